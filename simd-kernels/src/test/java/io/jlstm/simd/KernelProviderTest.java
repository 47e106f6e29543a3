package io.jlstm.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class KernelProviderTest {

    /** The build runs tests with --add-modules jdk.incubator.vector and no width property. */
    @Test
    void picksVectorKernelsByDefault() {
        assertTrue(ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent(),
                "surefire should pass --add-modules jdk.incubator.vector");
        Kernels k = KernelProvider.get();
        assertTrue(k.vectorBitSize() >= 128, "expected vector kernels, got " + k.name() + ": " + KernelProvider.reason());
        assertTrue(k instanceof VectorKernels, k.getClass().getName());
        assertEquals("vector-" + k.vectorBitSize(), k.name());
        assertFalse(KernelProvider.reason().isBlank());
        assertSame(k, KernelProvider.get());
    }

    @Test
    void scalarTwin() {
        Kernels s = KernelProvider.scalar();
        assertEquals("scalar", s.name());
        assertEquals(0, s.vectorBitSize());
    }

    @Test
    void vectorWidths() {
        Kernels k128 = KernelProvider.vector(128);
        assertEquals(128, k128.vectorBitSize());
        assertEquals("vector-128", k128.name());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KernelProvider.vector(64));
        assertTrue(e.getMessage().contains("64"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> KernelProvider.vector(1024));
    }
}
