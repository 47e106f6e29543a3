package io.jlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.sun.management.ThreadMXBean;
import io.jlstm.backend.Backend;
import io.jlstm.backend.Backends;
import io.jlstm.layers.DenseActivation;
import io.jlstm.layers.DenseSpec;
import io.jlstm.layers.GruSpec;
import io.jlstm.layers.LstmSpec;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.management.ObjectName;
import org.junit.jupiter.api.Test;

/**
 * A streaming step allocates nothing once the JIT has compiled it. Measured with the thread's
 * allocation counter: rounds of steps run until one allocates zero bytes, and that must happen
 * within a time bound. Early rounds are not judged: the interpreter and C1 box vectors until C2
 * takes over, and C2 takes over late when its queue is long (the other tests of this JVM fill it,
 * and tiered compilation scales its tier-4 thresholds with the queue length): here batch 1 needed
 * 92 to 201 rounds of 500 steps within the whole module's run, and on CI once more than 400. The JMH benchmark StreamingStepBenchmark with -prof gc shows the same in a
 * JVM of its own.
 */
class StreamingAllocationTest {

    /** Rounds normally reach zero within a second or two; this bounds a JIT that is far behind. */
    private static final long WARM_UP_LIMIT_NANOS = TimeUnit.SECONDS.toNanos(90);

    @Test
    void aStepAllocatesNothingOnceCompiled() {
        ThreadMXBean mx = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        long tid = Thread.currentThread().threadId();
        for (Backend backend : List.of(Backends.java(), Backends.openblas())) {
            for (int batch : new int[] {1, 4}) {
                try (Sequential model = Models.build(1, 16, backend, LstmSpec.of(64).returnSequences(true),
                        GruSpec.of(32).resetAfter(false).returnSequences(true), GruSpec.of(16),
                        // a hidden layer of 32 units: a batch-1 Dense is a transposed gemv, whose
                        // vector loop once boxed a vector per 4 inputs (a 3-unit head skips that loop)
                        DenseSpec.of(32, DenseActivation.RELU), DenseSpec.of(3, DenseActivation.SOFTMAX));
                     StreamingSession session = model.newSession(batch)) {
                    float[] x = new float[batch * 16];
                    float[] out = new float[batch * 3];
                    long start = System.nanoTime();
                    long lastRound = -1;
                    int rounds = 0;
                    while (lastRound != 0 && System.nanoTime() - start < WARM_UP_LIMIT_NANOS) {
                        long before = mx.getThreadAllocatedBytes(tid);
                        for (int i = 0; i < 500; i++) {
                            x[i % x.length] = (i % 7) * 0.1f;
                            session.step(x, out);
                        }
                        lastRound = mx.getThreadAllocatedBytes(tid) - before;
                        rounds++;
                    }
                    long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
                    int ran = rounds;
                    assertEquals(0, lastRound, () -> backend.name() + ", batch " + batch + ": bytes allocated by the "
                            + "last 500 steps, after " + ran + " rounds of 500 in " + seconds + " s; " + jitState());
                }
            }
        }
    }

    /** What the JIT was doing, for a failure message: its total time and the head of its queue. */
    private static String jitState() {
        String text = "JIT time " + ManagementFactory.getCompilationMXBean().getTotalCompilationTime() + " ms";
        try {
            Object queue = ManagementFactory.getPlatformMBeanServer().invoke(
                    new ObjectName("com.sun.management:type=DiagnosticCommand"), "compilerQueue", null, null);
            String q = String.valueOf(queue).strip();
            return text + ", Compiler.queue: " + (q.length() > 1500 ? q.substring(0, 1500) + " ..." : q);
        } catch (Exception e) {
            return text + " (no Compiler.queue: " + e + ")";
        }
    }
}
