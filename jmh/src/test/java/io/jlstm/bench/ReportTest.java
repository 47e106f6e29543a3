package io.jlstm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The cache size the roofline text names comes from sysfs strings like "1024K". */
class ReportTest {

    @Test
    void readsSysfsCacheSizes() {
        assertEquals(1024L * 1024, Report.cacheSize("1024K\n"));
        assertEquals(2L * 1024 * 1024, Report.cacheSize("2M"));
        assertEquals(512L, Report.cacheSize("512"));
        assertThrows(NumberFormatException.class, () -> Report.cacheSize("big"));
    }

    @Test
    void theL2SizeIsZeroOrPlausible() {
        long l2 = Report.l2Bytes();
        assertTrue(l2 == 0 || (l2 >= 64 * 1024 && l2 <= 64L * 1024 * 1024), "L2 of CPU 0: " + l2 + " bytes");
    }
}
