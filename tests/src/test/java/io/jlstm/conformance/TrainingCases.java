package io.jlstm.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.backend.Backend;
import io.jlstm.cases.ReferenceCase;
import io.jlstm.train.Optimizer;
import io.jlstm.train.Trainer;

/**
 * Runs a reference training case: initial loss and gradients (BPTT without an optimizer), then
 * each optimizer step's loss before and after the update and the weights after it.
 */
final class TrainingCases {
    private TrainingCases() {
    }

    static Optimizer optimizer(ReferenceCase rc, JsonNode o) {
        String name = o.path("name").asText();
        float lr = (float) o.path("learning_rate").asDouble(Double.NaN);
        return switch (name) {
            case "sgd" -> new Optimizer.Sgd(lr, (float) o.path("momentum").asDouble(0), o.path("nesterov").asBoolean(false));
            case "rmsprop" -> {
                if (o.path("momentum").asDouble(0) != 0 || o.path("centered").asBoolean(false)) {
                    throw new AssertionError("case " + rc.name() + ": unsupported feature: RMSprop with momentum or centered");
                }
                yield new Optimizer.RmsProp(lr, (float) o.path("rho").asDouble(), (float) o.path("epsilon").asDouble());
            }
            case "adam" -> {
                if (o.path("amsgrad").asBoolean(false)) {
                    throw new AssertionError("case " + rc.name() + ": unsupported feature: amsgrad");
                }
                Optimizer.AdamForm form = switch (o.path("formula").asText("tfjs")) {
                    case "tfjs" -> Optimizer.AdamForm.TFJS;
                    case "keras3" -> Optimizer.AdamForm.KERAS3;
                    default -> throw new AssertionError("case " + rc.name() + ": unsupported feature: Adam formula "
                            + o.path("formula").asText());
                };
                yield new Optimizer.Adam(lr, (float) o.path("beta_1").asDouble(), (float) o.path("beta_2").asDouble(),
                        (float) o.path("epsilon").asDouble(), form);
            }
            default -> throw new AssertionError("case " + rc.name() + ": unsupported feature: optimizer '" + name + "'");
        };
    }

    static void run(ReferenceCase rc, Backend backend) throws Exception {
        JsonNode tr = rc.json().path("training");
        String loss = tr.path("loss").asText();
        if (!loss.startsWith("mean_squared_error")) {
            fail("case " + rc.name() + ": unsupported feature: loss '" + loss + "'");
        }
        Tensor x = rc.input();
        Tensor y = rc.target();
        if (tr.path("batch_size").asLong(-1) != x.dim(0) || tr.path("shuffle").asBoolean(true)) {
            fail("case " + rc.name() + ": unsupported feature: batch_size other than the whole data, or shuffling");
        }
        ReferenceCase.Tolerance lossTol = rc.tolerance("loss");
        ReferenceCase.Tolerance gradTol = rc.tolerance("gradients");
        ReferenceCase.Tolerance weightTol = rc.tolerance("weights");
        try (Sequential model = rc.toModel(backend);
             Trainer trainer = new Trainer(model, optimizer(rc, tr.path("optimizer")))) {
            Trainer.Gradients g = trainer.gradients(x, y);
            check(rc, "initial loss", lossTol, g.loss(), tr.path("initial_loss").asDouble());
            for (JsonNode e : tr.path("initial_gradients")) {
                float[] got = g.perLayer().get(e.path("layer").asInt()).get(e.path("name").asText());
                compare(rc, "initial gradient of layer " + e.path("layer").asInt() + " " + e.path("name").asText(),
                        gradTol, got, rc.tensor(e).toFloatArray());
            }
            int steps = 0;
            for (JsonNode step : tr.path("per_step")) {
                int k = step.path("step").asInt();
                float before = trainer.trainStep(x, y);
                check(rc, "step " + k + " loss before the update", lossTol, before, step.path("loss_before_update").asDouble());
                check(rc, "step " + k + " loss after the update", lossTol, trainer.evaluate(x, y),
                        step.path("loss_after_update").asDouble());
                for (JsonNode e : step.path("weights")) {
                    int layer = e.path("layer").asInt();
                    String name = e.path("name").asText();
                    compare(rc, "step " + k + " weight " + layer + " " + name, weightTol, trainer.weight(layer, name),
                            rc.tensor(e).toFloatArray());
                }
                steps++;
            }
            assertEquals(tr.path("steps").asInt(), steps, "case " + rc.name() + ": steps");
        }
    }

    private static void check(ReferenceCase rc, String what, ReferenceCase.Tolerance tol, double actual, double expected) {
        assertTrue(tol.accepts(actual, expected), "case " + rc.name() + ", " + what + ": got " + actual + ", expected "
                + expected);
        System.out.printf("case %s, %s: |diff| %.3g%n", rc.name(), what, Math.abs(actual - expected));
    }

    private static void compare(ReferenceCase rc, String what, ReferenceCase.Tolerance tol, float[] actual,
                                float[] expected) {
        assertEquals(expected.length, actual.length, "case " + rc.name() + ", " + what + ": length");
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            if (!tol.accepts(actual[i], expected[i])) {
                fail("case " + rc.name() + ", " + what + ": at " + i + " got " + actual[i] + ", expected " + expected[i]);
            }
            worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
        }
        System.out.printf("case %s, %s: max |diff| %.3g%n", rc.name(), what, worst);
    }
}
