package io.jlstm.bench;

import ai.onnxruntime.OrtException;
import io.jlstm.bench.Workloads.Workload;
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

    @Param({"W1", "W2", "W2x2", "W3", "W4"})
    public String workload;

    @Param({"jlstm-java", "jlstm-openblas", "jlstm-java-bf16", "onnxruntime"})
    public String engine;

    @Param({"1", "2"})
    public int threads;

    private WorkloadEngine e;

    @Setup(Level.Trial)
    public void setUp() throws OrtException {
        e = new WorkloadEngine(Workload.valueOf(workload), engine, threads);
    }

    @Benchmark
    public void run(Blackhole bh) throws OrtException {
        bh.consume(e.call());
    }

    @TearDown(Level.Trial)
    public void tearDown() throws OrtException {
        e.close();
    }
}
