package io.jlstm.layers;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jlstm.simd.Activation;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * Layer configurations as JSON objects with Keras argument names, flat, the type included:
 * {@code {"type":"LSTM","units":16,"activation":"tanh","recurrent_activation":"sigmoid",...}};
 * Bidirectional nests its layer: {@code {"type":"Bidirectional","merge_mode":"concat","layer":{...}}};
 * Dropout is {@code {"type":"Dropout","rate":0.2}}.
 * This is the form of jlstm model files and of the reference cases.
 *
 * <p>Parsing is strict: a missing required key, a value of the wrong type or a key that would change
 * the arithmetic but is not supported (say {@code "stateful": true}) is an IllegalArgumentException
 * naming the layer and the key. Keys that only matter for training initialisation are accepted and
 * ignored.
 */
public final class LayerConfigs {

    /** Keys that do not change inference and are ignored. */
    private static final Set<String> IGNORED = Set.of("unit_forget_bias", "kernel_initializer",
            "recurrent_initializer", "bias_initializer", "kernel_regularizer", "recurrent_regularizer",
            "bias_regularizer", "activity_regularizer", "kernel_constraint", "recurrent_constraint",
            "bias_constraint", "dropout", "recurrent_dropout", "trainable", "dtype", "unroll", "seed",
            "implementation");

    private LayerConfigs() {
    }

    /** The JSON object of {@code spec}. */
    public static ObjectNode toJson(LayerSpec spec) {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("type", spec.type());
        o.put("name", spec.name());
        switch (spec) {
            case LstmSpec l -> putRecurrent(o, l);
            case GruSpec g -> {
                putRecurrent(o, g);
                o.put("reset_after", g.resetAfter());
            }
            case BidirectionalSpec b -> {
                o.put("merge_mode", b.mergeMode().kerasName());
                o.set("layer", toJson((LayerSpec) b.layer()));
            }
            case DenseSpec d -> {
                o.put("units", d.units());
                o.put("activation", d.activation().kerasName());
                o.put("use_bias", d.useBias());
            }
            case DropoutSpec d -> o.put("rate", d.rate());
        }
        return o;
    }

    private static void putRecurrent(ObjectNode o, RecurrentSpec r) {
        o.put("units", r.units());
        o.put("activation", r.activation().kerasName());
        o.put("recurrent_activation", r.recurrentActivation().kerasName());
        o.put("use_bias", r.useBias());
        o.put("return_sequences", r.returnSequences());
        o.put("return_state", r.returnState());
        o.put("go_backwards", r.goBackwards());
    }

    /**
     * Parses one layer object. {@code defaultName} names the layer when the object has no
     * {@code name}.
     */
    public static LayerSpec fromJson(JsonNode o, String defaultName) {
        if (o == null || !o.isObject()) {
            throw new IllegalArgumentException("layer '" + defaultName + "': expected a JSON object, got " + o);
        }
        String type = text(o, "type", defaultName);
        String name = o.has("name") ? text(o, "name", defaultName) : defaultName;
        String where = type + " layer '" + name + "'";
        return switch (type) {
            case "LSTM" -> {
                check(o, where, Set.of("type", "name", "units", "activation", "recurrent_activation", "use_bias",
                        "return_sequences", "return_state", "go_backwards", "stateful", "time_major"));
                noStateful(o, where);
                yield new LstmSpec(name, intValue(o, "units", where), act(o, "activation", "tanh", where),
                        act(o, "recurrent_activation", "sigmoid", where), bool(o, "use_bias", true, where),
                        bool(o, "return_sequences", false, where), bool(o, "return_state", false, where),
                        bool(o, "go_backwards", false, where));
            }
            case "GRU" -> {
                check(o, where, Set.of("type", "name", "units", "activation", "recurrent_activation", "use_bias",
                        "return_sequences", "return_state", "go_backwards", "reset_after", "stateful", "time_major"));
                noStateful(o, where);
                yield new GruSpec(name, intValue(o, "units", where), act(o, "activation", "tanh", where),
                        act(o, "recurrent_activation", "sigmoid", where), bool(o, "use_bias", true, where),
                        bool(o, "return_sequences", false, where), bool(o, "return_state", false, where),
                        bool(o, "go_backwards", false, where), bool(o, "reset_after", true, where));
            }
            case "Bidirectional" -> {
                check(o, where, Set.of("type", "name", "merge_mode", "layer", "backward_layer"));
                if (o.has("backward_layer") && !o.get("backward_layer").isNull()) {
                    throw new IllegalArgumentException(where + ": a separate backward_layer is not supported "
                            + "(the backward layer is always a copy of 'layer' with go_backwards flipped)");
                }
                JsonNode mm = o.get("merge_mode");
                if (mm == null || !mm.isTextual()) {
                    throw new IllegalArgumentException(where + ": merge_mode must be one of concat, sum, ave, mul, got "
                            + mm + (mm != null && mm.isNull() ? " (merge_mode=None is not supported)" : ""));
                }
                LayerSpec inner = fromJson(o.get("layer"), name + "/layer");
                if (!(inner instanceof RecurrentSpec r)) {
                    throw new IllegalArgumentException(where + ": wraps a " + inner.type() + ", expected LSTM or GRU");
                }
                yield new BidirectionalSpec(name, r, MergeMode.fromKerasName(mm.asText()));
            }
            case "Dense" -> {
                check(o, where, Set.of("type", "name", "units", "activation", "use_bias"));
                String a = o.has("activation") ? text(o, "activation", where) : "linear";
                DenseActivation da;
                try {
                    da = DenseActivation.fromKerasName(a);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
                }
                yield new DenseSpec(name, intValue(o, "units", where), da, bool(o, "use_bias", true, where));
            }
            case "Dropout" -> {
                check(o, where, Set.of("type", "name", "rate", "noise_shape"));
                JsonNode ns = o.get("noise_shape");
                if (ns != null && !ns.isNull()) {
                    throw new IllegalArgumentException(where + ": noise_shape " + ns + " is not supported (every "
                            + "element is dropped independently, as with noise_shape null); remove it or set it to null");
                }
                JsonNode rate = o.get("rate");
                if (rate == null || !rate.isNumber() || !(rate.asDouble() >= 0 && rate.asDouble() < 1)) {
                    throw new IllegalArgumentException(where + ": 'rate' must be a number in [0, 1), got " + rate);
                }
                yield new DropoutSpec(name, rate.floatValue());
            }
            default -> throw new IllegalArgumentException("layer '" + name + "': unknown layer type '" + type
                    + "' (supported: LSTM, GRU, Bidirectional, Dense, Dropout)");
        };
    }

    private static void check(JsonNode o, String where, Set<String> known) {
        List<String> unknown = new ArrayList<>();
        for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!known.contains(k) && !IGNORED.contains(k)) {
                unknown.add(k);
            }
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException(where + ": unsupported option(s) " + unknown + " (supported: "
                    + new java.util.TreeSet<>(known) + ")");
        }
    }

    private static void noStateful(JsonNode o, String where) {
        if (bool(o, "stateful", false, where)) {
            throw new IllegalArgumentException(where + ": stateful=true is not supported in a model file "
                    + "(keep state across calls with a StreamingSession instead)");
        }
        if (bool(o, "time_major", false, where)) {
            throw new IllegalArgumentException(where + ": time_major=true is not supported (inputs are "
                    + "[batch, time, features])");
        }
    }

    private static String text(JsonNode o, String key, String where) {
        JsonNode v = o.get(key);
        if (v == null || !v.isTextual()) {
            throw new IllegalArgumentException(where + ": '" + key + "' must be a string, got " + v);
        }
        return v.asText();
    }

    private static int intValue(JsonNode o, String key, String where) {
        JsonNode v = o.get(key);
        if (v == null || !v.canConvertToInt() || !v.isIntegralNumber()) {
            throw new IllegalArgumentException(where + ": '" + key + "' must be an integer, got " + v);
        }
        int i = v.asInt();
        if (i <= 0) {
            throw new IllegalArgumentException(where + ": '" + key + "' must be positive, got " + i);
        }
        return i;
    }

    private static boolean bool(JsonNode o, String key, boolean dflt, String where) {
        JsonNode v = o.get(key);
        if (v == null) {
            return dflt;
        }
        if (!v.isBoolean()) {
            throw new IllegalArgumentException(where + ": '" + key + "' must be true or false, got " + v);
        }
        return v.asBoolean();
    }

    private static Activation act(JsonNode o, String key, String dflt, String where) {
        String s = o.has(key) ? text(o, key, where) : dflt;
        try {
            return Activation.fromKerasName(s);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": '" + key + "': " + e.getMessage(), e);
        }
    }
}
