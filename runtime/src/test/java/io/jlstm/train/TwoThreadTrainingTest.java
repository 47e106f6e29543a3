package io.jlstm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.backend.Backends;
import io.jlstm.layers.BidirectionalSpec;
import io.jlstm.layers.DenseActivation;
import io.jlstm.layers.DenseSpec;
import io.jlstm.layers.GruSpec;
import io.jlstm.layers.LayerSpec;
import io.jlstm.layers.LstmSpec;
import io.jlstm.layers.MergeMode;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * With {@code -Djlstm.threads=2} the trainer's large products are split across the step helper
 * thread; the weights after training must be exactly those of one thread. The property is read
 * once per JVM, so each thread count runs in a child JVM.
 */
class TwoThreadTrainingTest {

    /** Trains a fixed model for a few steps and prints every weight's bits, one per line. */
    public static void main(String[] args) {
        Random rnd = new Random(3);
        int features = 24;
        // big enough that the step products (batch 40 x 4·96 gates x 96) are split
        LayerSpec[] layers = {LstmSpec.of(96).returnSequences(true),
            BidirectionalSpec.of(GruSpec.of(50), MergeMode.CONCAT), DenseSpec.of(7, DenseActivation.SOFTMAX)};
        Sequential.Builder b = Sequential.builder(features).backend(Backends.java());
        int f = features;
        for (LayerSpec spec : layers) {
            Map<String, Tensor> w = new LinkedHashMap<>();
            for (var e : spec.weightShapes(f).entrySet()) {
                w.put(e.getKey(), random(rnd, 0.3f, e.getValue()));
            }
            b.add(spec, w);
            f = spec.outputFeatures(f);
        }
        StringBuilder sb = new StringBuilder();
        try (Sequential model = b.build();
             Trainer t = new Trainer(model, new Optimizer.Adam(0.01f, 0.9f, 0.999f, 1e-7f, Optimizer.AdamForm.KERAS3),
                     Losses.sparseCategoricalCrossentropy(false))) {
            t.dropout(0, 0.2f, 0.1f);
            for (int step = 0; step < 3; step++) {
                Tensor x = random(rnd, 1f, 40, 12, features);
                Tensor y = Tensor.allocate(40, 1);
                for (int i = 0; i < 40; i++) {
                    y.setFlat(i, rnd.nextInt(7));
                }
                sb.append(Float.floatToRawIntBits(t.trainStep(x, y))).append('\n');
            }
            for (int layer = 0; layer < t.layerCount(); layer++) {
                for (String name : t.weightNames(layer)) {
                    for (float v : t.weight(layer, name)) {
                        sb.append(Float.floatToRawIntBits(v)).append('\n');
                    }
                }
            }
        }
        System.out.print(sb);
    }

    private static Tensor random(Random rnd, float scale, long... shape) {
        Tensor t = Tensor.allocate(shape);
        for (long i = 0; i < t.size(); i++) {
            t.setFlat(i, (rnd.nextFloat() * 2 - 1) * scale);
        }
        return t;
    }

    private static String run(int threads) throws Exception {
        return io.jlstm.ChildJvm.run(TwoThreadTrainingTest.class, "jlstm.threads=" + threads);
    }

    @Test
    void twoThreadsTrainToBitIdenticalWeights() throws Exception {
        String one = run(1);
        String two = run(2);
        assertTrue(one.lines().count() > 3 + 24 * 4 * 96, "three losses and every weight, got " + one.lines().count());
        assertEquals(one, two);
    }
}
