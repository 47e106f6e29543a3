package io.jlstm.bench;

import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.backend.Backends;
import io.jlstm.layers.DenseActivation;
import io.jlstm.layers.DenseSpec;
import io.jlstm.layers.LayerSpec;
import io.jlstm.layers.LstmSpec;
import io.jlstm.simd.Activation;
import io.jlstm.train.Loss;
import io.jlstm.train.Losses;
import io.jlstm.train.Optimizer;
import io.jlstm.train.Trainer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One training epoch of the seed examples' models on fixed random data of their shapes:
 * sum-of-sequence (900 sequences of 10 steps, LSTM(50) → Dense(1), rmsprop, mse, batch 32) and a
 * fashion-mnist subset (1024 images as 28 steps of 28 pixels, LSTM(128, relu) → Dense(128, relu)
 * → Dense(10, softmax), adam, sparse crossentropy, batch 128). Samples per second = samples /
 * (time per epoch). {@code threads} sets {@code jlstm.threads} in the forked JVM before the
 * trainer loads: with 2, the java backend splits the trainer's large products across the step
 * helper thread (bit-identical weights either way) and OpenBLAS runs two threads of its own.
 * {@code backend} is the model's backend, on which the trainer runs its products.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class TrainingBenchmark {

    @Param({"sum-of-sequence", "fashion-mnist-subset"})
    public String example;

    @Param({"1", "2"})
    public int threads;

    @Param({"java", "openblas"})
    public String backend;

    private Trainer trainer;
    private Tensor[] xs;
    private Tensor[] ys;

    @Setup(Level.Trial)
    public void setUp() {
        // read once, when the step helper class loads: each trial runs in its own fork
        System.setProperty(WorkloadEngine.THREADS_PROPERTY, Integer.toString(threads));
        Random r = new Random(7);
        boolean fashion = example.startsWith("fashion");
        int samples = fashion ? 1024 : 900;
        int steps = fashion ? 28 : 10;
        int features = fashion ? 28 : 1;
        int batch = fashion ? 128 : 32;
        LayerSpec[] layers = fashion
                ? new LayerSpec[] {LstmSpec.of(128).activation(Activation.RELU), DenseSpec.of(128, DenseActivation.RELU),
                        DenseSpec.of(10, DenseActivation.SOFTMAX)}
                : new LayerSpec[] {LstmSpec.of(50), DenseSpec.of(1, DenseActivation.LINEAR)};
        Sequential.Builder b = Sequential.builder(features).backend(Backends.byName(backend).backend());
        int f = features;
        for (LayerSpec spec : layers) {
            Map<String, Tensor> w = new LinkedHashMap<>();
            for (var e : spec.weightShapes(f).entrySet()) {
                w.put(e.getKey(), Workloads.uniform(r, 0.1f, e.getValue()));
            }
            b.add(spec, w);
            f = spec.outputFeatures(f);
        }
        Loss loss = fashion ? Losses.sparseCategoricalCrossentropy(false) : Losses.meanSquaredError();
        Optimizer opt = fashion ? new Optimizer.Adam(0.001f, 0.9f, 0.999f, 1e-7f, Optimizer.AdamForm.KERAS3)
                : new Optimizer.RmsProp(0.001f, 0.9f, 1e-7f);
        try (Sequential model = b.build()) {
            trainer = new Trainer(model, opt, loss);
        }
        int batches = (samples + batch - 1) / batch;
        xs = new Tensor[batches];
        ys = new Tensor[batches];
        for (int i = 0; i < batches; i++) {
            int n = Math.min(batch, samples - i * batch);
            xs[i] = Workloads.uniform(r, 1f, n, steps, features);
            ys[i] = Tensor.allocate(n, 1);
            for (int j = 0; j < n; j++) {
                ys[i].setFlat(j, fashion ? r.nextInt(10) : r.nextFloat() * 10);
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        trainer.close();
    }

    @Benchmark
    public float epoch() {
        float last = 0;
        for (int i = 0; i < xs.length; i++) {
            last = trainer.trainStep(xs[i], ys[i]);
        }
        return last;
    }
}
