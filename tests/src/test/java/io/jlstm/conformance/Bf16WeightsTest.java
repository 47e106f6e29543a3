package io.jlstm.conformance;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jlstm.PredictOptions;
import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.WeightPrecision;
import io.jlstm.backend.Backends;
import io.jlstm.cases.ReferenceCase;
import io.jlstm.layers.LayerSpec;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Opt-in bfloat16 weights against the reference cases: every forward case is run one batch row
 * at a time (bf16 applies to batch-1 steps) and its main output compared with the expected values.
 * The bound is the documented error of bf16 weights on these models, not the fp32 tolerance.
 */
class Bf16WeightsTest {

    /** Documented in README: the largest |bf16 − expected| over the reference cases stays below this. */
    static final double BOUND = 5e-3;

    @Test
    void bf16WeightsStayWithinTheDocumentedBound() throws Exception {
        double worst = 0;
        String worstCase = "";
        for (Path dir : ReferenceCase.list(ReferenceCasesTest.casesDir())) {
            ReferenceCase rc = ReferenceCase.read(dir);
            if (!"forward".equals(rc.kind())) {
                continue; // training cases have no forward expectation to compare with
            }
            List<LayerSpec> specs = rc.layerSpecs();
            Sequential.Builder b = Sequential.builder(Math.toIntExact(rc.inputShape()[2]))
                    .backend(Backends.java()).weightPrecision(WeightPrecision.BF16);
            for (int i = 0; i < specs.size(); i++) {
                b.add(specs.get(i), rc.layerWeights(i));
            }
            try (Sequential model = b.build()) {
                Tensor x = rc.input();
                long[] s = x.shape();
                Tensor expected = rc.outputs().getFirst().read();
                long perRow = expected.size() / s[0];
                for (int row = 0; row < s[0]; row++) {
                    Tensor one = Tensor.allocate(1, s[1], s[2]);
                    for (long i = 0; i < s[1] * s[2]; i++) {
                        one.setFlat(i, x.getFlat(row * s[1] * s[2] + i));
                    }
                    Tensor got = model.predict(one, PredictOptions.defaults()).output();
                    for (long i = 0; i < perRow; i++) {
                        double d = Math.abs(got.getFlat(i) - expected.getFlat(row * perRow + i));
                        if (d > worst) {
                            worst = d;
                            worstCase = rc.name();
                        }
                    }
                }
            }
        }
        System.out.printf("bf16 weights: max |diff| %.3g (case %s)%n", worst, worstCase);
        assertTrue(worst < BOUND, "bf16 error " + worst + " in case " + worstCase + " exceeds " + BOUND);
    }
}
