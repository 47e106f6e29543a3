package io.jlstm.onnx;

import io.jlstm.Sequential;
import io.jlstm.io.AtomicFile;
import io.jlstm.Tensor;
import io.jlstm.layers.BidirectionalSpec;
import io.jlstm.layers.DenseActivation;
import io.jlstm.layers.DenseSpec;
import io.jlstm.layers.DropoutSpec;
import io.jlstm.layers.GruSpec;
import io.jlstm.layers.LayerSpec;
import io.jlstm.layers.LstmSpec;
import io.jlstm.layers.MergeMode;
import io.jlstm.layers.RecurrentSpec;
import io.jlstm.simd.Activation;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SequencedMap;

/**
 * Writes a {@link Sequential} as an ONNX model (IR version 8, opset 17, default domain only), with
 * the protobuf encoded by hand: no ONNX or protobuf library is needed.
 *
 * <p>The graph has one input, {@code input}, float [batch, time, features] with symbolic
 * {@code batch} and {@code time}, and one output, {@code output}: the model's main output, [batch,
 * time, units] or [batch, units]. States that a last layer with {@code return_state} would also
 * return are not exported. Weights become float32 initializers (raw little-endian data).
 *
 * <p>How Keras maps onto ONNX:
 * <ul>
 *   <li>LSTM and GRU run time-major ({@code layout} 0), so a {@code Transpose} [1, 0, 2] precedes
 *       each recurrent node. {@code W = kernel^T}, {@code R = recurrent_kernel^T} per gate; LSTM gate
 *       blocks go from Keras' i, f, c, o to ONNX's i, o, f, c; GRU keeps z, r, h. Keras has one LSTM
 *       bias, so ONNX's recurrent bias half is zero. GRU {@code reset_after=True} is
 *       {@code linear_before_reset=1} with B = [input bias, recurrent bias]; {@code reset_after=False}
 *       is {@code linear_before_reset=0} with a zero recurrent bias. Without bias, B is left out.
 *   <li>{@code go_backwards} is {@code direction="reverse"}. ONNX stores that direction's Y at the
 *       original time index while Keras returns the processing order, so a returned sequence is
 *       flipped in time (a {@code Slice} with step −1); the final state needs nothing.
 *   <li>Bidirectional is {@code direction="bidirectional"}, whose reverse half of Y is already in
 *       input time order, as Keras' merged output is. The halves are taken apart with
 *       {@code Gather} and merged with {@code Concat} (forward first), {@code Add}, {@code Mul}, or
 *       {@code Add} then {@code Mul} by 0.5 (ave).
 *   <li>Activations: sigmoid, tanh and relu by name; Keras 3 hard_sigmoid is
 *       {@code HardSigmoid(alpha=1/6, beta=0.5)}; linear is {@code Affine(alpha=1, beta=0)}.
 *       {@code activation_alpha}/{@code activation_beta} list values only for the functions that
 *       take them, in function order, which is how ONNX Runtime reads them.
 *   <li>Dense is {@code MatMul} [+ {@code Add}] [+ activation; softmax over the last axis], on
 *       rank 2 or 3.
 *   <li>Dropout is {@code Identity}: the graph is for inference, where Keras' Dropout passes its
 *       input through.
 * </ul>
 * Initial states are left out (ONNX then starts from zeros, as Keras does).
 *
 * <p>Stateless and thread-safe. It reads the model's weights, so the model must stay open during
 * the call; the returned bytes are an ordinary heap array owned by the caller. A protobuf cannot
 * exceed 2 GiB, and this exporter does not write ONNX external data: larger models are refused.
 */
public final class OnnxExport {
    private static final long MAX_PROTO_BYTES = Integer.MAX_VALUE - (64L << 20);
    /** Keras LSTM blocks i, f, c, o in ONNX order i, o, f, c. */
    private static final int[] LSTM_GATES = {0, 3, 1, 2};
    private static final int[] GRU_GATES = {0, 1, 2};
    private static final float HARD_SIGMOID_ALPHA = 1f / 6f;

    private OnnxExport() {
    }

    /** The model as ONNX ModelProto bytes; see the class comment for the graph's form. */
    public static byte[] export(Sequential model) {
        Objects.requireNonNull(model, "model");
        if (model.parameterCount() * Float.BYTES > MAX_PROTO_BYTES) {
            throw new IllegalArgumentException("model has " + model.parameterCount()
                    + " weights: too large for one ONNX protobuf (2 GiB), and external data is not supported");
        }
        OnnxGraph g = new OnnxGraph();
        g.fresh("input");
        g.fresh("output");
        String value = "input";
        boolean sequence = true;
        List<LayerSpec> layers = model.layers();
        for (int i = 0; i < layers.size(); i++) {
            LayerSpec spec = layers.get(i);
            String out = i == layers.size() - 1 ? "output" : g.fresh("l" + i + "_out");
            String prefix = "l" + i;
            int in = model.layerInputFeatures(i);
            SequencedMap<String, Tensor> w = model.layerWeights(i);
            switch (spec) {
                case LstmSpec s -> recurrent(g, prefix, value, out, s, in, List.of(w), null);
                case GruSpec s -> recurrent(g, prefix, value, out, s, in, List.of(w), null);
                case BidirectionalSpec s -> recurrent(g, prefix, value, out, s.layer(), in,
                        List.of(prefixed(w, "forward_"), prefixed(w, "backward_")), s.mergeMode());
                case DenseSpec s -> dense(g, prefix, value, out, s, in, w);
                case DropoutSpec s -> g.node("Identity", out, value);
            }
            sequence = spec.outputIsSequence(sequence);
            value = out;
        }
        var batch = OnnxGraph.Dim.named("batch");
        var time = OnnxGraph.Dim.named("time");
        var outFeatures = OnnxGraph.Dim.of(model.outputFeatures());
        return g.toModel("jlstm", "input", List.of(batch, time, OnnxGraph.Dim.of(model.inputFeatures())),
                "output", sequence ? List.of(batch, time, outFeatures) : List.of(batch, outFeatures));
    }

    /**
     * Writes {@link #export} to {@code file} atomically: a temporary file in the same folder,
     * forced to disk, then renamed over the target. On failure the target is left as it was.
     */
    public static void write(Sequential model, Path file) throws IOException {
        Objects.requireNonNull(file, "file");
        AtomicFile.write(file, export(model));
    }

    // ------------------------------------------------------------------ recurrent layers

    /**
     * One ONNX LSTM or GRU node for {@code spec}. {@code weights} holds one Keras weight map per
     * direction: just the layer's, or Bidirectional's forward then backward ({@code merge} non-null).
     */
    private static void recurrent(OnnxGraph g, String prefix, String input, String output, RecurrentSpec spec,
                                  int inputFeatures, List<Map<String, Tensor>> weights, MergeMode merge) {
        boolean lstm = spec instanceof LstmSpec;
        boolean bidirectional = merge != null;
        int h = spec.units();
        int gates = spec.gates();
        int[] order = lstm ? LSTM_GATES : GRU_GATES;
        // ONNX's bidirectional slot 0 runs forwards and slot 1 backwards. Keras' forward layer runs
        // backwards when the wrapped layer has go_backwards, so the two swap slots.
        boolean swap = bidirectional && spec.goBackwards();
        List<Map<String, Tensor>> slots = swap ? weights.reversed() : weights;
        int dirs = slots.size();

        float[] w = new float[dirs * gates * h * inputFeatures];
        float[] r = new float[dirs * gates * h * h];
        float[] b = spec.useBias() ? new float[dirs * 2 * gates * h] : null;
        for (int d = 0; d < dirs; d++) {
            Map<String, Tensor> k = slots.get(d);
            transposeGates(k.get("kernel").toFloatArray(), inputFeatures, gates, h, order, w, d * gates * h * inputFeatures);
            transposeGates(k.get("recurrent_kernel").toFloatArray(), h, gates, h, order, r, d * gates * h * h);
            if (b != null) {
                float[] bias = k.get("bias").toFloatArray();
                int base = d * 2 * gates * h;
                for (int gate = 0; gate < gates; gate++) {
                    System.arraycopy(bias, order[gate] * h, b, base + gate * h, h);
                }
                if (bias.length == 2 * gates * h) { // GRU reset_after: row 1 is the recurrent bias
                    System.arraycopy(bias, gates * h, b, base + gates * h, gates * h);
                }
            }
        }

        String x = g.fresh(prefix + "_x_tbf");
        g.node("Transpose", x, input).ints("perm", 1, 0, 2);
        List<String> inputs = new ArrayList<>(List.of(x,
                g.floats(prefix + "_W", new long[] {dirs, (long) gates * h, inputFeatures}, w),
                g.floats(prefix + "_R", new long[] {dirs, (long) gates * h, h}, r)));
        if (b != null) {
            inputs.add(g.floats(prefix + "_B", new long[] {dirs, 2L * gates * h}, b));
        }
        boolean sequences = spec.returnSequences();
        String y = g.fresh(prefix + (sequences ? "_Y" : "_Y_h"));
        OnnxGraph.Node node = g.node(lstm ? "LSTM" : "GRU", inputs, sequences ? List.of(y) : List.of("", y))
                .attr("hidden_size", (long) h)
                .attr("direction", bidirectional ? "bidirectional" : spec.goBackwards() ? "reverse" : "forward");
        if (spec instanceof GruSpec gru) {
            node.attr("linear_before_reset", gru.resetAfter() ? 1L : 0L);
        }
        activations(node, spec, lstm, dirs);

        if (!bidirectional) {
            if (sequences) {
                // Y [T, 1, B, H] -> [T, B, H] (-> processing order) -> [B, T, H]
                String squeezed = g.fresh(prefix + "_Y_tbh");
                g.node("Squeeze", squeezed, y, g.int64s(new long[] {1}, 1));
                String timeMajor = spec.goBackwards() ? reverseTime(g, prefix, squeezed) : squeezed;
                g.node("Transpose", output, timeMajor).ints("perm", 1, 0, 2);
            } else {
                // Y_h [1, B, H] -> [B, H]
                g.node("Squeeze", output, y, g.int64s(new long[] {1}, 0));
            }
            return;
        }
        String forward;
        String backward;
        int forwardSlot = swap ? 1 : 0;
        if (sequences) {
            // Y [T, 2, B, H] (-> processing order when swapped) -> [B, T, 2, H] -> two [B, T, H]
            String timeMajor = swap ? reverseTime(g, prefix, y) : y;
            String batchMajor = g.fresh(prefix + "_Y_btdh");
            g.node("Transpose", batchMajor, timeMajor).ints("perm", 2, 0, 1, 3);
            forward = gather(g, prefix + "_forward", batchMajor, forwardSlot, 2);
            backward = gather(g, prefix + "_backward", batchMajor, 1 - forwardSlot, 2);
        } else {
            // Y_h [2, B, H] -> two [B, H]
            forward = gather(g, prefix + "_forward", y, forwardSlot, 0);
            backward = gather(g, prefix + "_backward", y, 1 - forwardSlot, 0);
        }
        switch (merge) {
            case CONCAT -> g.node("Concat", output, forward, backward).attr("axis", -1L);
            case SUM -> g.node("Add", output, forward, backward);
            case MUL -> g.node("Mul", output, forward, backward);
            case AVE -> {
                String sum = g.fresh(prefix + "_sum");
                g.node("Add", sum, forward, backward);
                g.node("Mul", output, sum, g.floatScalar(0.5f));
            }
        }
    }

    /**
     * Keras kernel [rows, gates·h] (column blocks in Keras gate order) into ONNX [gates·h, rows]
     * (row blocks in ONNX order), written at {@code offset} of {@code out}.
     */
    private static void transposeGates(float[] kernel, int rows, int gates, int h, int[] order, float[] out, int offset) {
        int cols = gates * h;
        for (int gate = 0; gate < gates; gate++) {
            int from = order[gate] * h;
            for (int j = 0; j < h; j++) {
                int dst = offset + (gate * h + j) * rows;
                for (int k = 0; k < rows; k++) {
                    out[dst + k] = kernel[k * cols + from + j];
                }
            }
        }
    }

    /** Axis 0 in reverse order (Slice from the last index down to the first). */
    private static String reverseTime(OnnxGraph g, String prefix, String value) {
        String out = g.fresh(prefix + "_reversed");
        long[] one = {1};
        g.node("Slice", out, value, g.int64s(one, -1), g.int64s(one, Long.MIN_VALUE), g.int64s(one, 0), g.int64s(one, -1));
        return out;
    }

    /** {@code value}'s slice {@code index} along {@code axis}, that axis removed. */
    private static String gather(OnnxGraph g, String name, String value, int index, int axis) {
        String out = g.fresh(name);
        g.node("Gather", out, value, g.int64s(new long[0], index)).attr("axis", (long) axis);
        return out;
    }

    /**
     * The {@code activations} attribute, when not ONNX's defaults (LSTM f, g, h = Sigmoid, Tanh,
     * Tanh; GRU f, g = Sigmoid, Tanh), repeated per direction, with alpha and beta for the
     * functions that take them.
     */
    private static void activations(OnnxGraph.Node node, RecurrentSpec spec, boolean lstm, int dirs) {
        List<Activation> perDirection = lstm
                ? List.of(spec.recurrentActivation(), spec.activation(), spec.activation())
                : List.of(spec.recurrentActivation(), spec.activation());
        if (spec.recurrentActivation() == Activation.SIGMOID && spec.activation() == Activation.TANH) {
            return;
        }
        List<String> names = new ArrayList<>();
        List<Float> alphas = new ArrayList<>();
        List<Float> betas = new ArrayList<>();
        for (int d = 0; d < dirs; d++) {
            for (Activation a : perDirection) {
                names.add(switch (a) {
                    case SIGMOID -> "Sigmoid";
                    case TANH -> "Tanh";
                    case RELU -> "Relu";
                    case HARD_SIGMOID -> {
                        alphas.add(HARD_SIGMOID_ALPHA);
                        betas.add(0.5f);
                        yield "HardSigmoid";
                    }
                    case LINEAR -> {
                        alphas.add(1f);
                        betas.add(0f);
                        yield "Affine";
                    }
                    default -> throw new IllegalArgumentException(spec.type() + " layer '" + spec.name()
                            + "': activation '" + a.kerasName() + "' has no ONNX " + spec.type() + " equivalent");
                });
            }
        }
        node.strings("activations", names);
        if (!alphas.isEmpty()) {
            node.floats("activation_alpha", alphas).floats("activation_beta", betas);
        }
    }

    // ------------------------------------------------------------------ Dense

    private static void dense(OnnxGraph g, String prefix, String input, String output, DenseSpec spec,
                              int inputFeatures, Map<String, Tensor> w) {
        boolean hasActivation = spec.activation() != DenseActivation.LINEAR;
        String kernel = g.floats(prefix + "_kernel", new long[] {inputFeatures, spec.units()}, w.get("kernel").toFloatArray());
        String product = spec.useBias() || hasActivation ? g.fresh(prefix + "_matmul") : output;
        g.node("MatMul", product, input, kernel);
        String linear = product;
        if (spec.useBias()) {
            String bias = g.floats(prefix + "_bias", new long[] {spec.units()}, w.get("bias").toFloatArray());
            linear = hasActivation ? g.fresh(prefix + "_linear") : output;
            g.node("Add", linear, product, bias);
        }
        switch (spec.activation()) {
            case LINEAR -> { }
            case RELU -> g.node("Relu", output, linear);
            case SIGMOID -> g.node("Sigmoid", output, linear);
            case TANH -> g.node("Tanh", output, linear);
            case HARD_SIGMOID -> g.node("HardSigmoid", output, linear).attr("alpha", HARD_SIGMOID_ALPHA).attr("beta", 0.5f);
            case SOFTMAX -> g.node("Softmax", output, linear).attr("axis", -1L);
        }
    }

    private static Map<String, Tensor> prefixed(SequencedMap<String, Tensor> weights, String prefix) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        weights.forEach((k, v) -> {
            if (k.startsWith(prefix)) {
                out.put(k.substring(prefix.length()), v);
            }
        });
        return out;
    }
}
