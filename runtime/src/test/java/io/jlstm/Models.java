package io.jlstm;

import io.jlstm.backend.Backend;
import io.jlstm.layers.LayerSpec;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Random models and inputs for tests. */
final class Models {
    private Models() {
    }

    static Tensor random(Random rnd, float scale, long... shape) {
        Tensor t = Tensor.allocate(shape);
        for (long i = 0; i < t.size(); i++) {
            t.setFlat(i, (rnd.nextFloat() * 2 - 1) * scale);
        }
        return t;
    }

    /** A model of these layers with uniform(-0.5, 0.5) weights. */
    static Sequential build(long seed, int inputFeatures, Backend backend, LayerSpec... layers) {
        return build(seed, inputFeatures, backend, null, layers);
    }

    /** The same with the weights a step streams in {@code precision} (null: the default). */
    static Sequential build(long seed, int inputFeatures, Backend backend, WeightPrecision precision,
                            LayerSpec... layers) {
        Random rnd = new Random(seed);
        Sequential.Builder b = Sequential.builder(inputFeatures);
        if (precision != null) {
            b.weightPrecision(precision);
        }
        int f = inputFeatures;
        for (LayerSpec spec : List.of(layers)) {
            Map<String, Tensor> w = new LinkedHashMap<>();
            for (var e : spec.weightShapes(f).entrySet()) {
                w.put(e.getKey(), random(rnd, 0.5f, e.getValue()));
            }
            b.add(spec, w);
            f = spec.outputFeatures(f);
        }
        if (backend != null) {
            b.backend(backend);
        }
        return b.build();
    }

    static float maxAbsDiff(Tensor a, Tensor b) {
        if (a.size() != b.size()) {
            throw new AssertionError("sizes differ: " + a + " vs " + b);
        }
        float m = 0;
        for (long i = 0; i < a.size(); i++) {
            m = Math.max(m, Math.abs(a.getFlat(i) - b.getFlat(i)));
        }
        return m;
    }
}
