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
import org.junit.jupiter.api.Test;

/**
 * A streaming step allocates nothing once the JIT has compiled it. Measured with the thread's
 * allocation counter: within a bounded number of warm-up rounds, a round of steps must allocate
 * zero bytes (the interpreter and C1 allocate vector boxes until C2 takes over, so early rounds
 * are not judged). The JMH benchmark StreamingStepBenchmark with -prof gc shows the same.
 */
class StreamingAllocationTest {

    @Test
    void aStepAllocatesNothingOnceCompiled() {
        ThreadMXBean mx = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        long tid = Thread.currentThread().threadId();
        for (Backend backend : List.of(Backends.java(), Backends.openblas())) {
            for (int batch : new int[] {1, 4}) {
                try (Sequential model = Models.build(1, 16, backend, LstmSpec.of(64).returnSequences(true),
                        GruSpec.of(32).resetAfter(false).returnSequences(true), GruSpec.of(16),
                        DenseSpec.of(3, DenseActivation.SOFTMAX));
                     StreamingSession session = model.newSession(batch)) {
                    float[] x = new float[batch * 16];
                    float[] out = new float[batch * 3];
                    long lastRound = -1;
                    for (int round = 0; round < 400 && lastRound != 0; round++) {
                        long before = mx.getThreadAllocatedBytes(tid);
                        for (int i = 0; i < 500; i++) {
                            x[i % x.length] = (i % 7) * 0.1f;
                            session.step(x, out);
                        }
                        lastRound = mx.getThreadAllocatedBytes(tid) - before;
                    }
                    assertEquals(0, lastRound, backend.name() + ", batch " + batch
                            + ": bytes allocated by 500 compiled steps");
                }
            }
        }
    }
}
