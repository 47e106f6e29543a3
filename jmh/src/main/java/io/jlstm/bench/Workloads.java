package io.jlstm.bench;

import io.jlstm.Tensor;
import java.util.Random;

/** Seeded random tensors for benchmarks. */
final class Workloads {
    private Workloads() {
    }

    static Tensor uniform(Random rnd, float scale, long... shape) {
        Tensor t = Tensor.allocate(shape);
        for (long i = 0; i < t.size(); i++) {
            t.setFlat(i, (rnd.nextFloat() * 2 - 1) * scale);
        }
        return t;
    }
}
