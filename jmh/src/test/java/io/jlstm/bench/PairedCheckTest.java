package io.jlstm.bench;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The paired cross-check: its argument errors, and one tiny real run of both engines. */
class PairedCheckTest {

    private final String threadsBefore = System.getProperty(WorkloadEngine.THREADS_PROPERTY);

    /** WorkloadEngine sets jlstm.threads for the JVM: put back what the other tests of this JVM saw. */
    @AfterEach
    void restoreThreads() {
        if (threadsBefore == null) {
            System.clearProperty(WorkloadEngine.THREADS_PROPERTY);
        } else {
            System.setProperty(WorkloadEngine.THREADS_PROPERTY, threadsBefore);
        }
    }

    @Test
    void wrongArgumentsNameWhatWasExpected() {
        String workload = assertThrows(IllegalArgumentException.class, () -> PairedCheck.check("W9", "1")).getMessage();
        assertTrue(workload.contains("W9") && workload.contains("W2x2"), workload);
        String threads = assertThrows(IllegalArgumentException.class, () -> PairedCheck.check("W4", "0")).getMessage();
        assertTrue(threads.contains("THREADS") && threads.contains("0"), threads);
        String number = assertThrows(IllegalArgumentException.class,
                () -> PairedCheck.check("W4", "1", "jlstm-java", "ten")).getMessage();
        assertTrue(number.contains("BLOCK") && number.contains("ten"), number);
        String ort = assertThrows(IllegalArgumentException.class,
                () -> PairedCheck.check("W4", "1", "onnxruntime")).getMessage();
        assertTrue(ort.contains("'onnxruntime'") && ort.contains("jlstm-java-bf16"), ort);
        String many = assertThrows(IllegalArgumentException.class,
                () -> PairedCheck.check("W4", "1", "jlstm-java", "100000", "100000")).getMessage();
        assertTrue(many.contains("100000 x 100000"), many);
        String engine = assertThrows(IllegalArgumentException.class,
                () -> PairedCheck.check("W4", "1", "tensorflow", "1", "1")).getMessage();
        assertTrue(engine.contains("tensorflow") && engine.contains("jlstm-java"), engine);
        String count = assertThrows(IllegalArgumentException.class, () -> PairedCheck.check("W4")).getMessage();
        assertTrue(count.contains("1 arguments"), count);
    }

    @Test
    void timesBothEnginesAndPrintsTheirRatio() throws Exception {
        String line = PairedCheck.check("W4", "1", "jlstm-java", "2", "2");
        assertTrue(line.matches("W4, 1 thread\\(s\\), 4 calls each: jlstm-java median [0-9.]+ us \\(p25 [0-9.]+\\), "
                + "onnxruntime median [0-9.]+ us \\(p25 [0-9.]+\\), ratio [0-9.]+"), line);
    }
}
