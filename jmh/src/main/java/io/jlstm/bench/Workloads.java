package io.jlstm.bench;

import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.backend.Backend;
import io.jlstm.layers.LstmSpec;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * The workloads of issue 3 and the seeded random data they run on. Every engine of one workload
 * gets the same weights (uniform(-0.1, 0.1) from {@link #SEED}) and the same input: ONNX Runtime's
 * model is exported from the very jlstm model it is compared with.
 *
 * <p>Stateless; the tensors and models it returns belong to the caller.
 */
final class Workloads {

    /** Seed of every weight and input tensor. */
    static final long SEED = 42;

    private Workloads() {
    }

    /** One row of the workload table. */
    enum Workload {
        /** Streaming: one step of batch 1, state kept. */
        W1(1, 1, 64, 256, 1),
        /** One request, one sequence. */
        W2(1, 100, 128, 512, 1),
        /** Two stacked layers, the first returning sequences. */
        W2x2(1, 100, 128, 512, 2),
        /** Offline scoring. */
        W3(64, 100, 128, 512, 1),
        /** Small sensor model. */
        W4(1, 50, 32, 128, 1);

        final int batch;
        final int steps;
        final int inputs;
        final int hidden;
        final int layers;

        Workload(int batch, int steps, int inputs, int hidden, int layers) {
            this.batch = batch;
            this.steps = steps;
            this.inputs = inputs;
            this.hidden = hidden;
            this.layers = layers;
        }

        /** Whether this workload is a streaming step rather than a whole-sequence predict. */
        boolean streaming() {
            return this == W1;
        }

        /**
         * Builds the model on {@code backend}; the weights depend only on the workload and the seed.
         */
        Sequential model(Backend backend) {
            Random rnd = new Random(SEED);
            Sequential.Builder b = Sequential.builder(inputs);
            int features = inputs;
            for (int l = 0; l < layers; l++) {
                LstmSpec spec = LstmSpec.of(hidden).returnSequences(l < layers - 1).withName("lstm_" + l);
                Map<String, Tensor> w = new LinkedHashMap<>();
                for (var e : spec.weightShapes(features).entrySet()) {
                    w.put(e.getKey(), uniform(rnd, 0.1f, e.getValue()));
                }
                b.add(spec, w);
                features = hidden;
            }
            return b.backend(backend).build();
        }

        /** The input of one call: [batch, steps, inputs], uniform(-1, 1). */
        float[] input() {
            Random rnd = new Random(SEED + 1);
            float[] x = new float[batch * steps * inputs];
            for (int i = 0; i < x.length; i++) {
                x[i] = rnd.nextFloat() * 2 - 1;
            }
            return x;
        }

        /** Floating-point operations of one call (multiply-adds counted as 2; pointwise work left out). */
        double flops() {
            double f = 0;
            int features = inputs;
            for (int l = 0; l < layers; l++) {
                f += 2.0 * batch * steps * (features + hidden) * 4.0 * hidden;
                features = hidden;
            }
            return f;
        }
    }

    static Tensor uniform(Random rnd, float scale, long... shape) {
        Tensor t = Tensor.allocate(shape);
        for (long i = 0; i < t.size(); i++) {
            t.setFlat(i, (rnd.nextFloat() * 2 - 1) * scale);
        }
        return t;
    }
}
