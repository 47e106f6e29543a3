package io.jlstm.ffi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The /proc/cpuinfo reader behind prefer=auto. */
class CpuFeaturesTest {

    @TempDir
    Path temp;

    @Test
    void readsTheFirstFlagsLine() throws IOException {
        Path cpuinfo = Files.writeString(temp.resolve("cpuinfo"), """
                processor\t: 0
                model name\t: Intel(R) Xeon(R) Processor
                flags\t\t: fpu sse3 FMA avx2 avx512f
                bugs\t\t: spectre_v1

                processor\t: 1
                flags\t\t: fpu sse3
                """);
        CpuFeatures cpu = CpuFeatures.read(cpuinfo);
        assertEquals(Set.of("fpu", "sse3", "fma", "avx2", "avx512f"), cpu.flags());
        assertTrue(cpu.hasAvx2());
        assertTrue(cpu.has("FMA"));
        assertEquals(cpuinfo.toString(), cpu.source());
    }

    @Test
    void missingOrFlaglessFileMeansNoFeatures() throws IOException {
        CpuFeatures missing = CpuFeatures.read(temp.resolve("nope"));
        assertFalse(missing.hasAvx2());
        assertTrue(missing.source().startsWith("no readable "), missing.source());

        Path arm = Files.writeString(temp.resolve("arm"), "processor\t: 0\nFeatures\t: fp asimd\n");
        CpuFeatures noFlags = CpuFeatures.read(arm);
        assertEquals(Set.of(), noFlags.flags());
        assertTrue(noFlags.source().startsWith("no flags line in "), noFlags.source());
    }

    @Test
    void thisHost() {
        CpuFeatures cpu = CpuFeatures.read();
        if (Files.isReadable(CpuFeatures.CPUINFO) && System.getProperty("os.arch").equals("amd64")) {
            assertTrue(cpu.has("sse2"), cpu.flags().toString());  // every x86-64 CPU
        }
        System.out.println("this CPU: avx2 " + cpu.hasAvx2() + ", avx512f " + cpu.has("avx512f") + " (" + cpu.source() + ")");
    }
}
