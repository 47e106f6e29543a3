package io.jlstm.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jlstm.Sequential;
import io.jlstm.layers.LayerConfigs;
import io.jlstm.layers.LayerSpec;
import io.jlstm.train.Fit;
import io.jlstm.train.Loss;
import io.jlstm.train.Losses;
import io.jlstm.train.Metrics;
import io.jlstm.train.Optimizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * The model and training settings of {@code jlstm train}, read from a JSON spec:
 *
 * <pre>
 * {"input_features": 1,
 *  "layers": [{"type": "LSTM", "units": 50}, {"type": "Dense", "units": 1}],
 *  "loss": "mse", "from_logits": false,
 *  "optimizer": {"name": "rmsprop", "learning_rate": 0.001},
 *  "metrics": ["mae"],
 *  "epochs": 10, "batch_size": 32, "validation_split": 0.1, "seed": 42, "shuffle": true}
 * </pre>
 *
 * {@code layers}, {@code loss} and {@code optimizer} are required (the optimizer may also be a
 * bare name); unknown keys are rejected. Immutable.
 */
record TrainSpec(Integer inputFeatures, List<LayerSpec> layers, Loss loss, String lossName, Optimizer optimizer,
                 String optimizerSummary, List<Metrics.Metric> metrics, Integer epochs, Integer batchSize,
                 Double validationSplit, Long seed, boolean shuffle, List<float[]> dropouts) {

    private static final Set<String> KEYS = Set.of("input_features", "layers", "loss", "from_logits", "optimizer",
            "metrics", "epochs", "batch_size", "validation_split", "seed", "shuffle");

    /** The optimizer names and the options each takes (besides name, learning_rate and clipping). */
    private static final Map<String, Set<String>> OPTIMIZERS = Map.of(
            "sgd", Set.of("momentum", "nesterov"),
            "rmsprop", Set.of("rho", "momentum", "epsilon", "centered"),
            "adam", Set.of("beta_1", "beta_2", "epsilon", "amsgrad", "formula"),
            "adamw", Set.of("beta_1", "beta_2", "epsilon", "amsgrad", "formula", "weight_decay"));

    private static final Set<String> COMMON = Set.of("name", "learning_rate", "clipvalue", "clipnorm",
            "global_clipnorm");

    /** Reads and checks {@code file}; every problem is a {@link UserError} naming the file. */
    static TrainSpec read(Path file) throws IOException {
        TensorFiles.requireReadable(file, "spec file");
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(file.toFile());
        } catch (JsonProcessingException e) {
            String where = e.getLocation() == null ? ""
                    : " (line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() + ")";
            throw new UserError("spec " + file + " is not valid JSON: " + e.getOriginalMessage() + where);
        }
        if (root == null || !root.isObject()) {
            throw new UserError("spec " + file + ": expected a JSON object, got "
                    + (root == null || root.isMissingNode() ? "an empty file" : root.getNodeType().name().toLowerCase(Locale.ROOT)));
        }
        String w = "spec " + file;
        try {
            return parse(root, w);
        } catch (IllegalArgumentException e) {
            throw new UserError(w + ": " + e.getMessage(), e);
        }
    }

    private static TrainSpec parse(JsonNode root, String w) {
        unknownKeys(root, KEYS, "");
        Integer inputFeatures = root.has("input_features") ? positiveInt(root, "input_features") : null;

        JsonNode ls = root.get("layers");
        if (ls == null || ls.isNull()) {
            throw new UserError(w + " has no \"layers\" (a list of layer objects such as "
                    + "{\"type\": \"LSTM\", \"units\": 50})");
        }
        if (!ls.isArray() || ls.isEmpty()) {
            throw new IllegalArgumentException("\"layers\" must be a non-empty list of layer objects");
        }
        List<LayerSpec> layers = new ArrayList<>();
        List<float[]> dropouts = new ArrayList<>();
        Map<String, Integer> counts = new HashMap<>();
        for (JsonNode l : ls) {
            String base = l.isObject() && l.has("type") && l.get("type").isTextual()
                    ? l.get("type").asText().toLowerCase(Locale.ROOT) : "layer";
            int k = counts.merge(base, 1, Integer::sum) - 1;
            String name = k == 0 ? base : base + "_" + k;
            notForTraining(l, name);
            layers.add(LayerConfigs.fromJson(l, name));
            dropouts.add(dropoutRates(l, name));
        }

        JsonNode lossNode = root.get("loss");
        if (lossNode == null || lossNode.isNull()) {
            throw new UserError(w + " has no \"loss\" (e.g. \"mse\", \"mae\", \"binary_crossentropy\")");
        }
        if (!lossNode.isTextual()) {
            throw new IllegalArgumentException("\"loss\" must be a name such as \"mse\", got " + lossNode);
        }
        boolean fromLogits = root.has("from_logits") && bool(root, "from_logits", "");
        Loss loss = Losses.byName(lossNode.asText(), fromLogits);

        JsonNode opt = root.get("optimizer");
        if (opt == null || opt.isNull()) {
            throw new UserError(w + " has no \"optimizer\" (a name such as \"adam\" or an object such as "
                    + "{\"name\": \"rmsprop\", \"learning_rate\": 0.001})");
        }
        Object[] o = optimizer(opt);

        List<Metrics.Metric> metrics = new ArrayList<>();
        JsonNode ms = root.get("metrics");
        if (ms != null && !ms.isNull()) {
            if (!ms.isArray()) {
                throw new IllegalArgumentException("\"metrics\" must be a list of names, got " + ms);
            }
            for (JsonNode m : ms) {
                if (!m.isTextual()) {
                    throw new IllegalArgumentException("\"metrics\" must be a list of names, got " + m);
                }
                String name = m.asText();
                // Keras picks the accuracy that fits the loss: sparse labels need sparse accuracy
                if ((name.equals("accuracy") || name.equals("acc")) && lossNode.asText().contains("sparse")) {
                    name = "sparse_categorical_accuracy";
                }
                Metrics.Metric metric = Metrics.byName(name);
                int lossPerRow = loss.targetValuesPerRow(2);
                if (metric.targetValuesPerRow(2) != lossPerRow) {
                    throw new IllegalArgumentException("metric '" + m.asText() + "' does not take the targets of loss '"
                            + lossNode.asText() + "'");
                }
                metrics.add(metric);
            }
        }
        return new TrainSpec(inputFeatures, List.copyOf(layers), loss, lossNode.asText(), (Optimizer) o[0],
                (String) o[1], List.copyOf(metrics),
                root.has("epochs") ? positiveInt(root, "epochs") : null,
                root.has("batch_size") ? positiveInt(root, "batch_size") : null,
                root.has("validation_split") ? num(root, "validation_split", 0, "") : null,
                root.has("seed") ? longValue(root, "seed") : null,
                !root.has("shuffle") || bool(root, "shuffle", ""), List.copyOf(dropouts));
    }

    /** The optimizer and a one-line description of it. */
    private static Object[] optimizer(JsonNode opt) {
        JsonNode o = opt;
        if (opt.isTextual()) {
            o = new ObjectMapper().createObjectNode().put("name", opt.asText());
        }
        if (!o.isObject() || !o.has("name") || !o.get("name").isTextual()) {
            throw new IllegalArgumentException("\"optimizer\" must be a name or an object with a \"name\", got " + opt);
        }
        String name = o.get("name").asText().toLowerCase(Locale.ROOT);
        Set<String> own = OPTIMIZERS.get(name);
        if (own == null) {
            throw new IllegalArgumentException("unknown optimizer '" + o.get("name").asText()
                    + "'; known optimizers: sgd, rmsprop, adam, adamw");
        }
        String p = "optimizer.";
        Set<String> known = new java.util.HashSet<>(COMMON);
        known.addAll(own);
        unknownKeys(o, known, "optimizer " + name + ": ");
        float lr = (float) num(o, "learning_rate", name.equals("sgd") ? 0.01 : 0.001, p);
        Optimizer result = switch (name) {
            case "sgd" -> new Optimizer.Sgd(lr, (float) num(o, "momentum", 0, p), bool(o, "nesterov", p));
            case "rmsprop" -> new Optimizer.RmsProp(lr, (float) num(o, "rho", 0.9, p),
                    (float) num(o, "momentum", 0, p), (float) num(o, "epsilon", 1e-7, p), bool(o, "centered", p));
            default -> {
                float b1 = (float) num(o, "beta_1", 0.9, p);
                float b2 = (float) num(o, "beta_2", 0.999, p);
                float eps = (float) num(o, "epsilon", 1e-7, p);
                boolean ams = bool(o, "amsgrad", p);
                Optimizer.AdamForm form = form(o);
                yield name.equals("adam") ? new Optimizer.Adam(lr, b1, b2, eps, form, ams)
                        : Optimizer.adamW(lr, b1, b2, eps, (float) num(o, "weight_decay", 0.004, p), form, ams);
            }
        };
        if (o.has("clipvalue")) {
            result.withClipValue((float) num(o, "clipvalue", 0, p));
        }
        if (o.has("clipnorm")) {
            result.withClipNorm((float) num(o, "clipnorm", 0, p));
        }
        if (o.has("global_clipnorm")) {
            result.withGlobalClipNorm((float) num(o, "global_clipnorm", 0, p));
        }
        StringBuilder summary = new StringBuilder(name).append("(learning_rate ").append(lr);
        for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!k.equals("name") && !k.equals("learning_rate")) {
                summary.append(", ").append(k).append(' ').append(o.get(k).asText());
            }
        }
        return new Object[] {result, summary.append(')').toString()};
    }

    /**
     * LayerConfigs ignores keys that do not change inference; some of them change training, which
     * jlstm does not do (dropout, regularizers, constraints, other initialisers, frozen layers):
     * rejected unless they hold their no-op value.
     */
    private static void notForTraining(JsonNode l, String defaultName) {
        if (l == null || !l.isObject()) {
            return;
        }
        String where = "layer '" + (l.has("name") ? l.get("name").asText() : defaultName) + "': ";
        for (String k : List.of("kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                "activity_regularizer", "kernel_constraint", "recurrent_constraint", "bias_constraint")) {
            if (l.has(k) && !l.get(k).isNull()) {
                throw new IllegalArgumentException(where + k + " is not supported in training; remove it or set null");
            }
        }
        Map<String, String> inits = Map.of("kernel_initializer", "glorot_uniform",
                "recurrent_initializer", "orthogonal", "bias_initializer", "zeros");
        for (var e : inits.entrySet()) {
            JsonNode v = l.get(e.getKey());
            if (v != null && !v.isNull() && !(v.isTextual() && v.asText().equals(e.getValue()))) {
                throw new IllegalArgumentException(where + e.getKey() + " " + v + " is not supported; weights are "
                        + "initialised as Keras' defaults (" + e.getValue() + ")");
            }
        }
        if (l.has("trainable") && !l.get("trainable").asBoolean(true)) {
            throw new IllegalArgumentException(where + "trainable false (frozen layers) is not supported");
        }
        if (l.has("unit_forget_bias") && !l.get("unit_forget_bias").asBoolean(true)) {
            throw new IllegalArgumentException(where + "unit_forget_bias false is not supported");
        }
        if (l.has("layer")) {
            notForTraining(l.get("layer"), defaultName + "/layer");
        }
    }

    /**
     * {dropout, recurrent_dropout} of a layer: taken from an LSTM or GRU (or the one inside a
     * Bidirectional); any other layer must leave them at 0.
     */
    private static float[] dropoutRates(JsonNode l, String defaultName) {
        JsonNode cell = l.has("layer") && l.get("layer").isObject() ? l.get("layer") : l;
        String type = cell.path("type").asText();
        boolean recurrent = type.equals("LSTM") || type.equals("GRU");
        float[] rates = new float[2];
        List<String> keys = List.of("dropout", "recurrent_dropout");
        for (int i = 0; i < 2; i++) {
            for (JsonNode node : List.of(l, cell)) {
                JsonNode v = node.get(keys.get(i));
                if (v == null || v.isNull() || (v.isNumber() && v.asDouble() == 0)) {
                    continue;
                }
                if (!v.isNumber() || v.asDouble() < 0 || v.asDouble() >= 1) {
                    throw new IllegalArgumentException("layer '" + defaultName + "': " + keys.get(i)
                            + " must be a number in [0, 1), got " + v);
                }
                if (!recurrent) {
                    throw new IllegalArgumentException("layer '" + defaultName + "': " + keys.get(i)
                            + " is supported in training on LSTM and GRU layers only");
                }
                rates[i] = (float) v.asDouble();
            }
        }
        return rates;
    }

    private static Optimizer.AdamForm form(JsonNode o) {
        if (!o.has("formula")) {
            return Optimizer.AdamForm.KERAS3;
        }
        String f = o.get("formula").asText();
        return switch (f) {
            case "keras3" -> Optimizer.AdamForm.KERAS3;
            case "tfjs" -> Optimizer.AdamForm.TFJS;
            default -> throw new IllegalArgumentException("optimizer.formula must be keras3 or tfjs, got " + o.get("formula"));
        };
    }

    private static void unknownKeys(JsonNode o, Set<String> known, String prefix) {
        List<String> unknown = new ArrayList<>();
        o.fieldNames().forEachRemaining(k -> {
            if (!known.contains(k)) {
                unknown.add(k);
            }
        });
        if (!unknown.isEmpty()) {
            List<String> sorted = new ArrayList<>(known);
            sorted.sort(null);
            throw new IllegalArgumentException(prefix + "unknown key" + (unknown.size() > 1 ? "s " : " ")
                    + String.join(", ", unknown) + " (known: " + String.join(", ", sorted) + ")");
        }
    }

    private static double num(JsonNode o, String key, double dflt, String prefix) {
        JsonNode v = o.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isNumber() || !Double.isFinite(v.asDouble())) {
            throw new IllegalArgumentException(prefix + key + " must be a number, got " + v);
        }
        return v.asDouble();
    }

    private static boolean bool(JsonNode o, String key, String prefix) {
        JsonNode v = o.get(key);
        if (v == null || v.isNull()) {
            return false;
        }
        if (!v.isBoolean()) {
            throw new IllegalArgumentException(prefix + key + " must be true or false, got " + v);
        }
        return v.asBoolean();
    }

    private static int positiveInt(JsonNode o, String key) {
        JsonNode v = o.get(key);
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < 1) {
            throw new IllegalArgumentException(key + " must be a whole number of at least 1, got " + v);
        }
        return v.asInt();
    }

    private static long longValue(JsonNode o, String key) {
        JsonNode v = o.get(key);
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw new IllegalArgumentException(key + " must be a whole number, got " + v);
        }
        return v.asLong();
    }

    /** The spec's metrics as {@link Fit.Metric}s. */
    Fit.Metric[] fitMetrics() {
        return metrics.stream().map(m -> Fit.Metric.of(m.name(), m::compute)).toArray(Fit.Metric[]::new);
    }

    /**
     * The model with Keras' default initialisation, as {@code jlstm example} has it: glorot_uniform
     * kernels, orthogonal recurrent kernels, zero biases with the LSTM forget-gate block at 1
     * (unit_forget_bias, also inside Bidirectional), drawn from {@code Random(seed ^ 0x5DEECE66D)}.
     */
    Sequential initialModel(int features, long seed) {
        Random r = new Random(seed ^ 0x5DEECE66DL);
        Sequential.Builder b = Sequential.builder(features);
        int in = features;
        for (LayerSpec spec : layers) {
            b.add(spec, Examples.initialWeights(spec, in, r));
            in = spec.outputFeatures(in);
        }
        return b.build();
    }
}
