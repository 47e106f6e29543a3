package io.jlstm.cli;

import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.layers.DenseActivation;
import io.jlstm.layers.DenseSpec;
import io.jlstm.layers.LayerSpec;
import io.jlstm.layers.LstmSpec;
import io.jlstm.simd.Activation;
import io.jlstm.train.Optimizer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The training examples of {@code jlstm example} and {@code jlstm demo}: their data generators
 * (all seeded), their models with Keras' default initialisation, and their settings. Stateless.
 */
final class Examples {

    private Examples() {
    }

    /** The examples {@code jlstm example} runs, in the order its help lists them. */
    static final List<String> NAMES = List.of("sum-of-sequence", "random-regression", "relu-lstm", "stacked-forecast",
            "fashion-mnist");

    /** Inputs [samples, time, features] and targets [samples, 1]. */
    record Data(float[] x, float[] y, int samples, int time, int features) {
        Tensor xTensor() {
            return Tensor.of(x, samples, time, features);
        }

        Tensor yTensor() {
            return Tensor.of(y, samples, 1);
        }

        /** Samples {@code from..from+n} of the inputs as a tensor. */
        Tensor xRows(int from, int n) {
            int stride = time * features;
            float[] part = new float[n * stride];
            System.arraycopy(x, from * stride, part, 0, part.length);
            return Tensor.of(part, n, time, features);
        }
    }

    /** What one example trains: the model, its optimizer, data and defaults. */
    record Setup(String name, String summary, Sequential model, Optimizer optimizer, Data data, int epochs,
                 int batchSize, double validationSplit, float learningRate, boolean persistenceBaseline,
                 boolean cosineDecay) {
    }

    /**
     * The example {@code name} with the seed for data and weights; {@code learningRate} overrides
     * the example's default when positive.
     */
    static Setup setup(String name, long seed, float learningRate) {
        Random data = new Random(seed);
        Random init = new Random(seed ^ 0x5DEECE66DL);
        return switch (name) {
            case "sum-of-sequence" -> {
                float lr = learningRate > 0 ? learningRate : SUM_LR;
                yield new Setup(name, "LSTM(50) -> Dense(1), rmsprop(lr " + lr + ", cosine decay), mse; 1000 sequences of 10 "
                        + "uniform(0,1) numbers, target their sum; last 10% held out",
                        sumModel(init), rmsprop(lr), sumOfSequence(1000, data), SUM_EPOCHS, 32, 0.1, lr, false, true);
            }
            case "random-regression" -> {
                float lr = learningRate > 0 ? learningRate : 0.001f;
                yield new Setup(name, "LSTM(32) -> Dense(1), rmsprop(lr " + lr + "), mse; X (100, 10, 1) and "
                        + "y (100, 1) uniform random, batch 1 (measures speed more than learning)",
                        lstmDense(1, LstmSpec.of(32), init), rmsprop(lr), randomRegression(data), 10, 1, 0.0, lr,
                        false, false);
            }
            case "relu-lstm" -> {
                // A relu LSTM over 100 steps is unstable (the cell state grows without bound once
                // the weights do): a low rate, clipping and a decay keep it from diverging. At 5e-4
                // the loss explodes in epoch 3 (seed 42) and may or may not recover, depending on
                // the last bits of the arithmetic; 3e-4 over 30 epochs learns with small spikes.
                float lr = learningRate > 0 ? learningRate : 0.0003f;
                yield new Setup(name, "LSTM(50, relu) -> Dense(1), rmsprop(lr " + lr + ", cosine decay, global clip norm 1), mse; "
                        + "windows of 100 steps of sin(2πt/40) + 0.5·sin(2πt/13) + noise(0.05), predict the next value; last 10% "
                        + "held out", lstmDense(1, LstmSpec.of(50).activation(Activation.RELU), init),
                        rmsprop(lr).withGlobalClipNorm(1f), nextValue(400, 100, data), RELU_EPOCHS, 16, 0.1, lr, true, true);
            }
            case "stacked-forecast" -> {
                float lr = learningRate > 0 ? learningRate : STACKED_LR;
                yield new Setup(name, "LSTM(128, return_sequences) -> LSTM(64) -> Dense(1), adam(lr " + lr
                        + ", Keras 3 form), mse; 300 windows of 24 steps of a noisy seasonal series, one-step "
                        + "forecast; last 20% held out", stackedModel(init),
                        new Optimizer.Adam(lr, 0.9f, 0.999f, 1e-7f, Optimizer.AdamForm.KERAS3),
                        seasonal(300, 24, data), STACKED_EPOCHS, 16, 0.2, lr, true, false);
            }
            default -> throw new UserError(unknown(name));
        };
    }

    static final float SUM_LR = 0.005f;
    static final int SUM_EPOCHS = 30;
    static final float STACKED_LR = 0.003f;
    static final int STACKED_EPOCHS = 4;
    static final int RELU_EPOCHS = 30;

    static String unknown(String name) {
        return "unknown example '" + name + "'; available examples: " + String.join(", ", NAMES);
    }

    static Optimizer rmsprop(float lr) {
        return new Optimizer.RmsProp(lr, 0.9f, 1e-7f);
    }

    // ------------------------------------------------------------------ data

    /** {@code n} sequences of 10 uniform(0,1) numbers; the target is their sum. */
    static Data sumOfSequence(int n, Random r) {
        int t = 10;
        float[] x = new float[n * t];
        float[] y = new float[n];
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int j = 0; j < t; j++) {
                float v = r.nextFloat();
                x[i * t + j] = v;
                s += v;
            }
            y[i] = (float) s;
        }
        return new Data(x, y, n, t, 1);
    }

    /** X (100, 10, 1) and y (100, 1), uniform(0,1), unrelated. */
    static Data randomRegression(Random r) {
        int n = 100;
        int t = 10;
        float[] x = new float[n * t];
        float[] y = new float[n];
        for (int i = 0; i < x.length; i++) {
            x[i] = r.nextFloat();
        }
        for (int i = 0; i < n; i++) {
            y[i] = r.nextFloat();
        }
        return new Data(x, y, n, t, 1);
    }

    /** Consecutive windows of {@code t} steps of a two-sine signal plus noise; the target is the next value. */
    static Data nextValue(int n, int t, Random r) {
        float[] s = new float[n + t];
        for (int i = 0; i < s.length; i++) {
            s[i] = (float) (Math.sin(2 * Math.PI * i / 40) + 0.5 * Math.sin(2 * Math.PI * i / 13)
                    + 0.05 * r.nextGaussian());
        }
        return windows(s, n, t);
    }

    /** A noisy seasonal series (period 24, a slower cycle, a slight trend); windows of {@code t}, next value. */
    static Data seasonal(int n, int t, Random r) {
        float[] s = new float[n + t];
        for (int i = 0; i < s.length; i++) {
            s[i] = (float) (Math.sin(2 * Math.PI * i / 24) + 0.3 * Math.sin(2 * Math.PI * i / 97)
                    + 0.001 * i + 0.1 * r.nextGaussian());
        }
        return windows(s, n, t);
    }

    private static Data windows(float[] s, int n, int t) {
        float[] x = new float[n * t];
        float[] y = new float[n];
        for (int i = 0; i < n; i++) {
            System.arraycopy(s, i, x, i * t, t);
            y[i] = s[i + t];
        }
        return new Data(x, y, n, t, 1);
    }

    // ------------------------------------------------------------------ models

    static Sequential sumModel(Random init) {
        return lstmDense(1, LstmSpec.of(50), init);
    }

    static Sequential lstmDense(int features, LstmSpec lstm, Random init) {
        Sequential.Builder b = Sequential.builder(features);
        add(b, lstm, features, init);
        add(b, DenseSpec.of(1, DenseActivation.LINEAR), lstm.units(), init);
        return b.build();
    }

    static Sequential stackedModel(Random init) {
        Sequential.Builder b = Sequential.builder(1);
        LstmSpec first = LstmSpec.of(128).returnSequences(true).withName("lstm");
        LstmSpec second = LstmSpec.of(64).withName("lstm_1");
        add(b, first, 1, init);
        add(b, second, 128, init);
        add(b, DenseSpec.of(1, DenseActivation.LINEAR), 64, init);
        return b.build();
    }

    /**
     * Adds {@code spec} with Keras' default initialisation: glorot_uniform kernels, orthogonal
     * recurrent kernels, zero biases with the LSTM forget-gate block at 1 (unit_forget_bias).
     */
    static void addLayer(Sequential.Builder b, LayerSpec spec, int inputFeatures, Random r) {
        add(b, spec, inputFeatures, r);
    }

    private static void add(Sequential.Builder b, LayerSpec spec, int inputFeatures, Random r) {
        b.add(spec, initialWeights(spec, inputFeatures, r));
    }

    /**
     * Keras' default initialisation of {@code spec}'s weights, drawn from {@code r} in weight
     * order: glorot_uniform kernels, orthogonal recurrent kernels, zero biases with the LSTM
     * forget-gate block at 1 (unit_forget_bias, also inside Bidirectional). The one initialiser of
     * {@code jlstm example} and {@code jlstm train}.
     */
    static Map<String, Tensor> initialWeights(LayerSpec spec, int inputFeatures, Random r) {
        Map<String, Tensor> w = new LinkedHashMap<>();
        for (var e : spec.weightShapes(inputFeatures).entrySet()) {
            long[] shape = e.getValue();
            String key = e.getKey();
            float[] v;
            if (key.endsWith("recurrent_kernel")) {
                v = orthogonal((int) shape[0], (int) shape[1], r);
            } else if (key.endsWith("kernel")) {
                v = glorotUniform((int) shape[0], (int) shape[1], r);
            } else if (key.endsWith("bias")) {
                v = new float[(int) java.util.Arrays.stream(shape).reduce(1, (a, c) -> a * c)];
                LayerSpec inner = spec instanceof io.jlstm.layers.BidirectionalSpec bi ? (LayerSpec) bi.layer() : spec;
                if (inner instanceof LstmSpec l) {
                    java.util.Arrays.fill(v, l.units(), 2 * l.units(), 1f);
                }
            } else {
                throw new IllegalStateException("no initialiser for weight '" + key + "' of " + spec.name());
            }
            w.put(key, Tensor.of(v, shape));
        }
        return w;
    }

    /** U(±sqrt(6 / (fan_in + fan_out))) for a [rows, cols] kernel. */
    static float[] glorotUniform(int rows, int cols, Random r) {
        double limit = Math.sqrt(6.0 / (rows + cols));
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) ((2 * r.nextDouble() - 1) * limit);
        }
        return v;
    }

    /**
     * Keras' orthogonal initialiser for a [rows, cols] matrix with rows ≤ cols: Gaussian rows made
     * orthonormal (modified Gram-Schmidt, in double).
     */
    static float[] orthogonal(int rows, int cols, Random r) {
        double[][] m = new double[rows][cols];
        for (double[] row : m) {
            for (int j = 0; j < cols; j++) {
                row[j] = r.nextGaussian();
            }
        }
        for (int i = 0; i < rows; i++) {
            for (int k = 0; k < i; k++) {
                double dot = 0;
                for (int j = 0; j < cols; j++) {
                    dot += m[i][j] * m[k][j];
                }
                for (int j = 0; j < cols; j++) {
                    m[i][j] -= dot * m[k][j];
                }
            }
            double norm = 0;
            for (int j = 0; j < cols; j++) {
                norm += m[i][j] * m[i][j];
            }
            norm = Math.sqrt(norm);
            for (int j = 0; j < cols; j++) {
                m[i][j] /= norm;
            }
        }
        float[] v = new float[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                v[i * cols + j] = (float) m[i][j];
            }
        }
        return v;
    }

    // ------------------------------------------------------------------ figures

    /** Mean squared error of predictions against targets. */
    static double mse(float[] pred, float[] target, int from, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            double d = pred[i] - target[from + i];
            s += d * d;
        }
        return s / n;
    }

    /** R² of predictions against targets {@code from..from+n}. */
    static double r2(float[] pred, float[] target, int from, int n) {
        double mean = 0;
        for (int i = 0; i < n; i++) {
            mean += target[from + i];
        }
        mean /= n;
        double sst = 0;
        for (int i = 0; i < n; i++) {
            double d = target[from + i] - mean;
            sst += d * d;
        }
        return 1 - mse(pred, target, from, n) * n / sst;
    }

    /** MSE of the persistence forecast (the window's last value) on samples {@code from..from+n}. */
    static double persistenceMse(Data d, int from, int n) {
        int stride = d.time() * d.features();
        double s = 0;
        for (int i = from; i < from + n; i++) {
            double diff = d.x()[i * stride + stride - 1] - d.y()[i];
            s += diff * diff;
        }
        return s / n;
    }

    /** A PrintStream whose lines go to {@code w} (for {@link io.jlstm.train.Callback.ProgressListener}). */
    static java.io.PrintStream lines(java.io.PrintWriter w) {
        java.io.OutputStream bytes = new java.io.OutputStream() {
            private final java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream();

            @Override
            public void write(int b) {
                line.write(b);
                if (b == '\n') {
                    flush();
                }
            }

            @Override
            public void flush() {
                w.print(line.toString(java.nio.charset.StandardCharsets.UTF_8));
                w.flush();
                line.reset();
            }
        };
        return new java.io.PrintStream(bytes, true, java.nio.charset.StandardCharsets.UTF_8);
    }
}
