package io.jlstm.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.jlstm.Sequential;
import io.jlstm.StreamingSession;
import io.jlstm.Tensor;
import io.jlstm.WeightPrecision;
import io.jlstm.backend.Backend;
import io.jlstm.backend.Backends;
import io.jlstm.backend.OpenBlasBackend;
import io.jlstm.bench.Workloads.Workload;
import io.jlstm.onnx.OnnxExport;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.Map;

/**
 * One engine set up for one workload, as {@link WorkloadBenchmark} and {@link PairedCheck} time
 * it. One {@link #call} is: W1 one streaming step (state kept between calls), the others one
 * {@code predict} of the whole [batch, time, features] input. ONNX Runtime's model is exported
 * from the jlstm model of the same workload, so every engine holds the same weights.
 *
 * <p>Owns its model, streaming session or ONNX Runtime session and input tensor; {@link #close}
 * frees them. Not thread-safe: one caller at a time.
 */
final class WorkloadEngine implements AutoCloseable {

    /** Read by the runtime when it starts: threads for one product (step helper thread, OpenBLAS pool). */
    static final String THREADS_PROPERTY = "jlstm.threads";

    /** The engines, as {@link WorkloadBenchmark}'s {@code engine} parameter names them. */
    static final List<String> ENGINES = List.of("jlstm-java", "jlstm-openblas", "jlstm-java-bf16", "onnxruntime");

    private final Sequential model;
    private final StreamingSession session;
    private final Tensor input;
    private final float[] stepInput;
    private final float[] stepOutput;
    private final OrtSession ort;
    private final OnnxTensor ortInput;
    private final Map<String, OnnxTensor> ortFeed;

    /**
     * Sets up {@code engine} (one of {@link #ENGINES}) for {@code w} with {@code threads} threads.
     * Sets the system property {@value #THREADS_PROPERTY} first: the runtime reads it once per
     * JVM, when its first model is built, so every jlstm engine of one JVM runs with the first
     * engine's thread count. {@code jlstm-java-bf16} builds its model with bfloat16 weights and
     * leaves the weight precision property as it found it.
     *
     * @throws IllegalArgumentException for an unknown engine or a thread count below 1
     */
    WorkloadEngine(Workload w, String engine, int threads) throws OrtException {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        }
        System.setProperty(THREADS_PROPERTY, Integer.toString(threads));
        float[] x = w.input();
        Sequential m = null;
        OrtSession o = null;
        OnnxTensor oi = null;
        StreamingSession s = null;
        Tensor in = null;
        float[] out = null;
        try {
            switch (engine) {
                case "jlstm-java" -> m = w.model(Backends.byName("java").backend());
                case "jlstm-java-bf16" -> {
                    // opt-in bfloat16 copies of the weights that batch-1 steps stream (fp32 arithmetic)
                    String before = System.setProperty(WeightPrecision.PROPERTY, "bf16");
                    try {
                        m = w.model(Backends.byName("java").backend());
                    } finally {
                        if (before == null) {
                            System.clearProperty(WeightPrecision.PROPERTY);
                        } else {
                            System.setProperty(WeightPrecision.PROPERTY, before);
                        }
                    }
                }
                case "jlstm-openblas" -> {
                    Backend b = Backends.byName("openblas").backend();
                    ((OpenBlasBackend) b).library().setNumThreads(threads);
                    m = w.model(b);
                }
                case "onnxruntime" -> {
                    byte[] onnx;
                    try (Sequential source = w.model(Backends.byName("java").backend())) {
                        onnx = OnnxExport.export(source);
                    }
                    OrtEnvironment env = OrtEnvironment.getEnvironment();
                    try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
                        opts.setIntraOpNumThreads(threads);
                        opts.setInterOpNumThreads(1);
                        opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
                        opts.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
                        o = env.createSession(onnx, opts);
                    }
                    FloatBuffer buf = ByteBuffer.allocateDirect(x.length * Float.BYTES)
                            .order(ByteOrder.nativeOrder()).asFloatBuffer();
                    buf.put(x).flip();
                    oi = OnnxTensor.createTensor(env, buf, new long[] {w.batch, w.steps, w.inputs});
                }
                default -> throw new IllegalArgumentException("unknown engine '" + engine + "', expected one of "
                        + ENGINES);
            }
            if (m != null && w.streaming()) {
                s = m.newSession(w.batch);
                out = new float[m.outputFeatures()];
            } else if (m != null) {
                in = Tensor.of(x, w.batch, w.steps, w.inputs);
            }
        } catch (Throwable t) {
            // close what was built, newest first; the first failure stays the one thrown
            closeAll(t, s, m, oi, o);
            throw t;
        }
        model = m;
        ort = o;
        ortInput = oi;
        ortFeed = oi == null ? null : Map.of("input", oi);
        session = s;
        stepInput = s != null ? x : null;
        stepOutput = out;
        input = in;
    }

    /** Closes each non-null resource in turn, even when one fails; failures go to {@code first} as suppressed. */
    private static void closeAll(Throwable first, AutoCloseable... resources) {
        for (AutoCloseable r : resources) {
            if (r != null) {
                try {
                    r.close();
                } catch (Exception e) {
                    first.addSuppressed(e);
                }
            }
        }
    }

    /** Runs one call and returns its result, for a Blackhole (an ONNX Runtime result comes back closed). */
    Object call() throws OrtException {
        if (ort != null) {
            try (OrtSession.Result r = ort.run(ortFeed)) {
                return r;
            }
        }
        if (session != null) {
            session.step(stepInput, stepOutput);
            return stepOutput;
        }
        return model.predict(input);
    }

    /** Closes the session, the model and ONNX Runtime's input and session, each even when one before it fails. */
    @Override
    public void close() throws OrtException {
        IllegalStateException failed = new IllegalStateException("closing a workload engine failed");
        closeAll(failed, session, model, ortInput, ort);
        Throwable[] why = failed.getSuppressed();
        if (why.length == 1 && why[0] instanceof OrtException e) {
            throw e;
        }
        if (why.length == 1 && why[0] instanceof RuntimeException e) {
            throw e;
        }
        if (why.length > 0) {
            throw failed;
        }
    }
}
