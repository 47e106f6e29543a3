package io.jlstm.bench;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.recurrent.LSTM;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.initializer.UniformInitializer;
import ai.djl.training.loss.L2Loss;
import ai.djl.training.loss.Loss;
import ai.djl.training.loss.SoftmaxCrossEntropyLoss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
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
 * The PyTorch peer of {@link TrainingBenchmark}: one training epoch of the same models on fixed
 * random data of the same shapes, run by PyTorch's CPU kernels through DJL (the {@code pytorch}
 * Maven profile). Sum-of-sequence: 900 sequences of 10 steps × 1 feature, LSTM(50) → Dense(1),
 * RMSprop (lr 0.001, rho 0.9, epsilon 1e-7), mean squared error, batch 32. Fashion-mnist subset:
 * 1,024 "images" of 28 steps × 28 pixels, LSTM(128) → Dense(128, relu) → Dense(10), Adam (0.001,
 * 0.9, 0.999, 1e-7), sparse categorical crossentropy on the softmax of the logits (fused, as
 * PyTorch does it), batch 128. One op is one epoch: forward, loss, backward and update for every
 * batch. Samples per second = samples / (time per epoch).
 *
 * <p>Differences from the jlstm model, none of which changes the work by more than a rounding:
 * PyTorch's LSTM has only the tanh cell activation, so the fashion LSTM uses tanh where jlstm's
 * uses relu (the same FLOPs); PyTorch's LSTM has two bias vectors (input and recurrent) where
 * jlstm has one; DJL's {@link LSTM} block concatenates its weights into one flat tensor and
 * transposes batch-first input to time-major on every call (that is how DJL drives
 * {@code torch::lstm}, and it is measured). DJL's PyTorch engine has no RMSprop, so RMSprop is a
 * small DJL {@link Optimizer} of in-place NDArray ops, with jlstm's formula
 * ({@code w -= lr * g / sqrt(ms + eps)}); Adam is DJL's (one native update call per parameter).
 * Weights start uniform in (-0.1, 0.1) as in {@link TrainingBenchmark}, biases too.
 *
 * <p>{@code threads} sets {@code ai.djl.pytorch.num_threads} (PyTorch's intra-op threads, OpenMP)
 * and {@code ai.djl.pytorch.num_interop_threads} = 1 before the engine starts, which DJL reads
 * once at start: each trial runs in its own fork, so do not run this with {@code -f 0}. The
 * set-up checks that PyTorch reports those counts. The forked JVM gets
 * {@code -Dai.djl.offline=true}: the engine loads libtorch from the pytorch-native-cpu jar and its
 * JNI library from the pytorch-jni jar, both on the class path, and downloads nothing.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Dai.djl.offline=true"})
public class PyTorchTrainingBenchmark {

    @Param({"sum-of-sequence", "fashion-mnist-subset"})
    public String example;

    @Param({"1", "2"})
    public int threads;

    private Model model;
    private Trainer trainer;
    private Loss loss;
    private NDManager data;
    private NDArray[] xs;
    private NDArray[] ys;

    @Setup(Level.Trial)
    public void setUp() {
        // read once by the engine as it starts: each trial runs in its own fork
        System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        Engine engine = Engine.getEngine("PyTorch");
        if (JniUtils.getNumThreads() != threads || JniUtils.getNumInteropThreads() != 1) {
            throw new IllegalStateException("PyTorch runs " + JniUtils.getNumThreads() + " intra-op and "
                    + JniUtils.getNumInteropThreads() + " inter-op threads, wanted " + threads + " and 1"
                    + " (was the engine started before the set-up?)");
        }
        engine.setRandomSeed(7);
        boolean fashion = example.startsWith("fashion");
        int samples = fashion ? 1024 : 900;
        int steps = fashion ? 28 : 10;
        int features = fashion ? 28 : 1;
        int batch = fashion ? 128 : 32;

        SequentialBlock block = new SequentialBlock()
                .add(LSTM.builder().setStateSize(fashion ? 128 : 50).setNumLayers(1).optBatchFirst(true)
                        .optReturnState(false).build())
                .add(PyTorchTrainingBenchmark::lastStep);
        if (fashion) {
            block.add(Linear.builder().setUnits(128).build()).add(Activation::relu)
                    .add(Linear.builder().setUnits(10).build());
            // the softmax is inside the loss (log-softmax + negative log-likelihood)
            loss = new SoftmaxCrossEntropyLoss("sparse-crossentropy", 1f, -1, true, true);
        } else {
            block.add(Linear.builder().setUnits(1).build());
            loss = new L2Loss("mse", 1f); // weight 1: the mean of squared errors
        }
        Optimizer optimizer = fashion
                ? Optimizer.adam().optLearningRateTracker(Tracker.fixed(0.001f)).optBeta1(0.9f).optBeta2(0.999f)
                        .optEpsilon(1e-7f).build()
                : new RmsProp(0.001f, 0.9f, 1e-7f);

        model = Model.newInstance(example, engine.getEngineName());
        model.setBlock(block);
        trainer = model.newTrainer(new DefaultTrainingConfig(loss).optOptimizer(optimizer)
                .optInitializer(new UniformInitializer(0.1f), p -> true));
        trainer.initialize(new Shape(batch, steps, features));

        Random r = new Random(7);
        data = engine.newBaseManager();
        int batches = (samples + batch - 1) / batch;
        xs = new NDArray[batches];
        ys = new NDArray[batches];
        for (int i = 0; i < batches; i++) {
            int n = Math.min(batch, samples - i * batch);
            float[] x = new float[n * steps * features];
            for (int j = 0; j < x.length; j++) {
                x[j] = r.nextFloat() * 2 - 1;
            }
            float[] y = new float[n];
            for (int j = 0; j < n; j++) {
                y[j] = fashion ? r.nextInt(10) : r.nextFloat() * 10;
            }
            xs[i] = data.create(x, new Shape(n, steps, features));
            ys[i] = data.create(y, new Shape(n, 1));
        }
    }

    /** The LSTM's output at the last step: [batch, steps, units] → [batch, units]. */
    private static NDList lastStep(NDList outputs) {
        NDArray sequence = outputs.singletonOrThrow();
        return new NDList(sequence.get(":, -1, :"));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        trainer.close();
        model.close();
        data.close();
    }

    @Benchmark
    public float epoch() {
        float last = 0;
        for (int i = 0; i < xs.length; i++) {
            last = step(xs[i], ys[i]);
        }
        return last;
    }

    /** One optimizer step on one batch; returns its loss. */
    float step(NDArray x, NDArray y) {
        // every array the step makes is freed with this manager; x and y go back to theirs
        try (NDManager step = data.newSubManager()) {
            x.tempAttach(step);
            y.tempAttach(step);
            float value;
            try (GradientCollector collector = trainer.newGradientCollector()) {
                NDArray output = trainer.forward(new NDList(x)).singletonOrThrow();
                NDArray l = loss.evaluate(new NDList(y), new NDList(output));
                collector.backward(l);
                value = l.getFloat();
            }
            trainer.step();
            return value;
        }
    }

    /**
     * RMSprop as jlstm computes it (momentum 0, not centered): {@code ms = rho * ms + (1 - rho) *
     * g²; w -= lr * g / sqrt(ms + eps)}, in place, then the gradient is zeroed as DJL's own PyTorch
     * updates do (autograd accumulates into it).
     */
    static final class RmsProp extends Optimizer {
        private final float learningRate;
        private final float rho;
        private final float epsilon;
        private final Map<String, NDArray> meanSquares = new ConcurrentHashMap<>();

        RmsProp(float learningRate, float rho, float epsilon) {
            super(new Builder());
            this.learningRate = learningRate;
            this.rho = rho;
            this.epsilon = epsilon;
        }

        @Override
        public void update(String parameterId, NDArray weight, NDArray grad) {
            NDArray ms = meanSquares.computeIfAbsent(parameterId, k -> weight.zerosLike());
            try (NDArray g2 = grad.square()) {
                ms.muli(rho).addi(g2.muli(1 - rho));
            }
            try (NDArray shifted = ms.add(epsilon); NDArray root = shifted.sqrt(); NDArray ratio = grad.div(root)) {
                weight.subi(ratio.muli(learningRate));
            }
            // the trainer hands over a copy of the gradient: zero the one autograd accumulates into
            JniUtils.zeroGrad((PtNDArray) weight);
        }

        private static final class Builder extends OptimizerBuilder<Builder> {
            @Override
            protected Builder self() {
                return this;
            }
        }
    }
}
