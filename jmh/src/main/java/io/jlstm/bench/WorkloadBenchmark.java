package io.jlstm.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.jlstm.Prediction;
import io.jlstm.Sequential;
import io.jlstm.StreamingSession;
import io.jlstm.Tensor;
import io.jlstm.backend.Backend;
import io.jlstm.backend.Backends;
import io.jlstm.backend.OpenBlasBackend;
import io.jlstm.bench.Workloads.Workload;
import io.jlstm.onnx.OnnxExport;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Map;
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
import org.openjdk.jmh.infra.Blackhole;

/**
 * The workloads of issue 3 on each jlstm backend and on ONNX Runtime (CPU, Java API), fed the
 * same weights and input. One call is: W1 one streaming step (state kept between calls), the
 * others one {@code predict} of the whole [batch, time, features] input.
 *
 * <p>Threads: JMH forks a JVM per parameter set, so {@code @Setup} sets the system property
 * {@code jlstm.threads} before the model is built and, for OpenBLAS, the library's thread count;
 * ONNX Runtime gets {@code threads} intra-op threads. A java backend that does not read
 * {@code jlstm.threads} yet runs single-threaded at both settings.
 *
 * <p>ONNX Runtime on W1: the exported graph takes only "input", so each call runs a sequence of
 * length 1 from zero state. That is the same arithmetic as one step with state kept (the state
 * values do not change the work), but the state is not carried; the report says so.
 *
 * <p>Sample time, not average time: the report judges the median per call (as issue 3 quotes
 * ONNX Runtime's figures) and shows the mean beside it. On a shared 2-core machine other tenants
 * slow some calls by half or more, and those bursts, not the engines, moved the means by 20 %
 * from run to run.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class WorkloadBenchmark {

    /** Read by the runtime when it starts: threads for one product (step helper thread, OpenBLAS pool). */
    static final String THREADS_PROPERTY = "jlstm.threads";

    @Param({"W1", "W2", "W2x2", "W3", "W4"})
    public String workload;

    @Param({"jlstm-java", "jlstm-openblas", "jlstm-java-bf16", "onnxruntime"})
    public String engine;

    @Param({"1", "2"})
    public int threads;

    private Workload w;
    private Sequential model;
    private StreamingSession session;
    private Tensor input;
    private float[] stepInput;
    private float[] stepOutput;

    private OrtEnvironment env;
    private OrtSession ort;
    private OnnxTensor ortInput;
    private Map<String, OnnxTensor> ortFeed;

    @Setup(Level.Trial)
    public void setUp() throws OrtException {
        w = Workload.valueOf(workload);
        System.setProperty(THREADS_PROPERTY, Integer.toString(threads));
        float[] x = w.input();
        switch (engine) {
            case "jlstm-java" -> model = w.model(Backends.byName("java").backend());
            case "jlstm-java-bf16" -> {
                // opt-in bfloat16 copies of the weights that batch-1 steps stream (fp32 arithmetic)
                System.setProperty(io.jlstm.WeightPrecision.PROPERTY, "bf16");
                model = w.model(Backends.byName("java").backend());
            }
            case "jlstm-openblas" -> {
                Backend b = Backends.byName("openblas").backend();
                ((OpenBlasBackend) b).library().setNumThreads(threads);
                model = w.model(b);
            }
            case "onnxruntime" -> {
                // The weights come from the jlstm model, so both engines hold the same numbers.
                byte[] onnx;
                try (Sequential source = w.model(Backends.byName("java").backend())) {
                    onnx = OnnxExport.export(source);
                }
                env = OrtEnvironment.getEnvironment();
                try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
                    opts.setIntraOpNumThreads(threads);
                    opts.setInterOpNumThreads(1);
                    opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
                    opts.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
                    ort = env.createSession(onnx, opts);
                }
                FloatBuffer buf = ByteBuffer.allocateDirect(x.length * Float.BYTES)
                        .order(ByteOrder.nativeOrder()).asFloatBuffer();
                buf.put(x).flip();
                ortInput = OnnxTensor.createTensor(env, buf, new long[] {w.batch, w.steps, w.inputs});
                ortFeed = Map.of("input", ortInput);
                return;
            }
            default -> throw new IllegalArgumentException("unknown engine " + engine);
        }
        if (w.streaming()) {
            session = model.newSession(w.batch);
            stepInput = x;
            stepOutput = new float[model.outputFeatures()];
        } else {
            input = Tensor.of(x, w.batch, w.steps, w.inputs);
        }
    }

    @Benchmark
    public void run(Blackhole bh) throws OrtException {
        if (ort != null) {
            try (OrtSession.Result r = ort.run(ortFeed)) {
                bh.consume(r);
            }
        } else if (session != null) {
            session.step(stepInput, stepOutput);
            bh.consume(stepOutput);
        } else {
            Prediction p = model.predict(input);
            bh.consume(p);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws OrtException {
        if (session != null) {
            session.close();
        }
        if (model != null) {
            model.close();
        }
        if (ortInput != null) {
            ortInput.close();
        }
        if (ort != null) {
            ort.close();
        }
    }
}
