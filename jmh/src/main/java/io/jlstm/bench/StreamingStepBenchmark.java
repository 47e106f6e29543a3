package io.jlstm.bench;

import io.jlstm.Sequential;
import io.jlstm.StreamingSession;
import io.jlstm.Tensor;
import io.jlstm.backend.Backends;
import io.jlstm.layers.LstmSpec;
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
 * One streaming step of one LSTM layer (the embedded, one-event-at-a-time job): batch 1, state kept
 * between calls. Run with {@code -prof gc} to see that a step allocates nothing.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class StreamingStepBenchmark {

    @Param({"java", "openblas"})
    public String backend;

    @Param({"64"})
    public int inputs;

    @Param({"256"})
    public int units;

    private Sequential model;
    private StreamingSession session;
    private float[] x;
    private float[] out;

    @Setup(Level.Trial)
    public void setUp() {
        Random rnd = new Random(42);
        LstmSpec spec = LstmSpec.of(units);
        Map<String, Tensor> w = new LinkedHashMap<>();
        for (var e : spec.weightShapes(inputs).entrySet()) {
            w.put(e.getKey(), Workloads.uniform(rnd, 0.1f, e.getValue()));
        }
        model = Sequential.builder(inputs).add(spec, w).backend(Backends.byName(backend).backend()).build();
        session = model.newSession(1);
        x = new float[inputs];
        for (int i = 0; i < inputs; i++) {
            x[i] = rnd.nextFloat() * 2 - 1;
        }
        out = new float[units];
    }

    @Benchmark
    public float[] step() {
        session.step(x, out);
        return out;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        session.close();
        model.close();
    }
}
