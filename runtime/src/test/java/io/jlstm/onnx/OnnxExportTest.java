package io.jlstm.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.layers.BidirectionalSpec;
import io.jlstm.layers.DenseActivation;
import io.jlstm.layers.DenseSpec;
import io.jlstm.layers.DropoutSpec;
import io.jlstm.layers.GruSpec;
import io.jlstm.layers.LayerSpec;
import io.jlstm.layers.LstmSpec;
import io.jlstm.layers.MergeMode;
import io.jlstm.simd.Activation;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Parses the exported bytes back with a protobuf reader written here, independently of the
 * exporter's writer, and checks the graph: op types in order, initializers, attributes, graph
 * input and output, opset. Numerical agreement with ONNX Runtime is checked in the jmh module
 * ({@code OnnxExportAgainstOnnxRuntimeTest}), which has ONNX Runtime on its class path.
 */
class OnnxExportTest {

    @Test
    void lstmSequenceThenDense() {
        int f = 3;
        int h = 4;
        try (Sequential model = build(f, LstmSpec.of(h).returnSequences(true), DenseSpec.of(2, DenseActivation.SIGMOID))) {
            Message m = Message.parse(OnnxExport.export(model));
            assertEquals(8L, m.varint(1), "ir_version");
            Message opset = m.message(8);
            assertEquals(17L, opset.varint(2), "opset version");
            assertEquals("", opset.stringOr(1, ""), "default domain");

            Message graph = m.message(7);
            assertEquals(List.of("Transpose", "LSTM", "Squeeze", "Transpose", "MatMul", "Add", "Sigmoid"), opTypes(graph));
            assertEquals(Map.of(
                    "l0_W", List.of(1L, 4L * h, (long) f),
                    "l0_R", List.of(1L, 4L * h, (long) h),
                    "l0_B", List.of(1L, 8L * h),
                    "l1_kernel", List.of((long) h, 2L),
                    "l1_bias", List.of(2L)), floatInitializerShapes(graph));

            Message lstm = nodes(graph).get(1);
            assertEquals(List.of("l0_x_tbf", "l0_W", "l0_R", "l0_B"), lstm.strings(1));
            assertEquals(h, lstm.attribute("hidden_size").varint(3));
            assertEquals("forward", lstm.attribute("direction").string(4));
            assertTrue(lstm.attributeOrNull("activations") == null, "default activations are not written");
            assertEquals(List.of(1L, 0L, 2L), nodes(graph).get(0).attribute("perm").varints(8));

            // Keras gate blocks i, f, c, o -> ONNX i, o, f, c; W is kernel transposed per gate.
            float[] kernel = model.layerWeights(0).get("kernel").toFloatArray();
            float[] bias = model.layerWeights(0).get("bias").toFloatArray();
            float[] w = floats(initializer(graph, "l0_W"));
            float[] b = floats(initializer(graph, "l0_B"));
            int[] kerasBlock = {0, 3, 1, 2};
            for (int gate = 0; gate < 4; gate++) {
                for (int j = 0; j < h; j++) {
                    for (int k = 0; k < f; k++) {
                        assertEquals(kernel[k * 4 * h + kerasBlock[gate] * h + j], w[(gate * h + j) * f + k]);
                    }
                    assertEquals(bias[kerasBlock[gate] * h + j], b[gate * h + j]);
                    assertEquals(0f, b[4 * h + gate * h + j], "recurrent bias half is zero");
                }
            }

            assertEquals(List.of("output"), nodes(graph).getLast().strings(2));
            assertValueInfo(graph.message(11), "input", "batch", "time", f);
            assertValueInfo(graph.message(12), "output", "batch", "time", 2);
        }
    }

    @Test
    void lstmGoBackwardsSequenceIsFlippedToProcessingOrder() {
        try (Sequential model = build(2, LstmSpec.of(3).goBackwards(true).returnSequences(true))) {
            Message graph = Message.parse(OnnxExport.export(model)).message(7);
            assertEquals(List.of("Transpose", "LSTM", "Squeeze", "Slice", "Transpose"), opTypes(graph));
            assertEquals("reverse", nodes(graph).get(1).attribute("direction").string(4));
            Message slice = nodes(graph).get(3);
            List<String> in = slice.strings(1);
            assertEquals(List.of(-1L), int64s(initializer(graph, in.get(1))), "starts");
            assertEquals(List.of(Long.MIN_VALUE), int64s(initializer(graph, in.get(2))), "ends");
            assertEquals(List.of(0L), int64s(initializer(graph, in.get(3))), "axes");
            assertEquals(List.of(-1L), int64s(initializer(graph, in.get(4))), "steps");
        }
    }

    @Test
    void lstmLastOutputUsesYh() {
        try (Sequential model = build(2, LstmSpec.of(3).goBackwards(true).useBias(false))) {
            Message graph = Message.parse(OnnxExport.export(model)).message(7);
            assertEquals(List.of("Transpose", "LSTM", "Squeeze"), opTypes(graph));
            Message lstm = nodes(graph).get(1);
            assertEquals(3, lstm.strings(1).size(), "no B input without bias");
            assertEquals("", lstm.strings(2).get(0), "Y unused");
            assertEquals(2, lstm.strings(2).size());
            assertValueInfo(graph.message(12), "output", "batch", null, 3);
        }
    }

    @Test
    void bidirectionalGruAverage() {
        int h = 5;
        try (Sequential model = build(2, BidirectionalSpec.of(GruSpec.of(h), MergeMode.AVE))) {
            Message graph = Message.parse(OnnxExport.export(model)).message(7);
            assertEquals(List.of("Transpose", "GRU", "Gather", "Gather", "Add", "Mul"), opTypes(graph));
            Message gru = nodes(graph).get(1);
            assertEquals("bidirectional", gru.attribute("direction").string(4));
            assertEquals(1L, gru.attribute("linear_before_reset").varint(3));
            Map<String, List<Long>> shapes = floatInitializerShapes(graph);
            assertEquals(List.of(2L, 3L * h, 2L), shapes.get("l0_W"));
            assertEquals(List.of(2L, 3L * h, (long) h), shapes.get("l0_R"));
            assertEquals(List.of(2L, 6L * h), shapes.get("l0_B"));
            // reset_after: B = [input bias row, recurrent bias row] per direction, forward first.
            float[] fwd = model.layerWeights(0).get("forward_bias").toFloatArray();
            float[] bwd = model.layerWeights(0).get("backward_bias").toFloatArray();
            float[] b = floats(initializer(graph, "l0_B"));
            for (int i = 0; i < 6 * h; i++) {
                assertEquals(fwd[i], b[i]);
                assertEquals(bwd[i], b[6 * h + i]);
            }
        }
    }

    @Test
    void bidirectionalLstmConcatSequence() {
        try (Sequential model = build(2, BidirectionalSpec.of(LstmSpec.of(3).returnSequences(true), MergeMode.CONCAT))) {
            Message graph = Message.parse(OnnxExport.export(model)).message(7);
            assertEquals(List.of("Transpose", "LSTM", "Transpose", "Gather", "Gather", "Concat"), opTypes(graph));
            assertEquals(List.of(2L, 0L, 1L, 3L), nodes(graph).get(2).attribute("perm").varints(8));
            assertValueInfo(graph.message(12), "output", "batch", "time", 6);
        }
    }

    @Test
    void gruResetBeforeHasZeroRecurrentBias() {
        int h = 2;
        try (Sequential model = build(1, GruSpec.of(h).resetAfter(false))) {
            Message graph = Message.parse(OnnxExport.export(model)).message(7);
            assertEquals(0L, nodes(graph).get(1).attribute("linear_before_reset").varint(3));
            float[] b = floats(initializer(graph, "l0_B"));
            float[] bias = model.layerWeights(0).get("bias").toFloatArray();
            for (int i = 0; i < 3 * h; i++) {
                assertEquals(bias[i], b[i]);
                assertEquals(0f, b[3 * h + i]);
            }
        }
    }

    @Test
    void nonDefaultActivationsWithAlphaAndBeta() {
        LstmSpec spec = LstmSpec.of(3).recurrentActivation(Activation.HARD_SIGMOID).activation(Activation.LINEAR);
        try (Sequential model = build(2, spec, DenseSpec.of(1, DenseActivation.HARD_SIGMOID))) {
            Message graph = Message.parse(OnnxExport.export(model)).message(7);
            Message lstm = nodes(graph).get(1);
            assertEquals(List.of("HardSigmoid", "Affine", "Affine"), lstm.attribute("activations").strings(9));
            assertEquals(List.of(1f / 6f, 1f, 1f), lstm.attribute("activation_alpha").floats(7));
            assertEquals(List.of(0.5f, 0f, 0f), lstm.attribute("activation_beta").floats(7));
            Message hs = nodes(graph).getLast();
            assertEquals("HardSigmoid", hs.string(4));
            assertEquals(1f / 6f, hs.attribute("alpha").float32(2));
            assertEquals(0.5f, hs.attribute("beta").float32(2));
        }
    }

    @Test
    void dropoutIsAnIdentityWithNoInitializers() {
        try (Sequential model = build(2, DropoutSpec.of(0.2f), LstmSpec.of(3).returnSequences(true),
                DropoutSpec.of(0.5f), DenseSpec.of(1, DenseActivation.LINEAR), DropoutSpec.of(0.1f))) {
            Message graph = Message.parse(OnnxExport.export(model)).message(7);
            assertEquals(List.of("Identity", "Transpose", "LSTM", "Squeeze", "Transpose", "Identity", "MatMul", "Add",
                    "Identity"), opTypes(graph));
            List<Message> nodes = nodes(graph);
            assertEquals(List.of("input"), nodes.get(0).strings(1));
            assertEquals(nodes.get(0).strings(2), nodes.get(1).strings(1), "the LSTM's Transpose reads the Identity");
            assertEquals(nodes.get(4).strings(2), nodes.get(5).strings(1));
            assertEquals(nodes.get(5).strings(2).get(0), nodes.get(6).strings(1).get(0), "MatMul reads the Identity");
            assertEquals(List.of("output"), nodes.getLast().strings(2));
            assertEquals(Set.of("l1_W", "l1_R", "l1_B", "l3_kernel", "l3_bias"), floatInitializerShapes(graph).keySet());
            assertValueInfo(graph.message(12), "output", "batch", "time", 1);
        }
    }

    @Test
    void writeReplacesTheFileAtomically(@TempDir Path tmp) throws Exception {
        try (Sequential model = build(2, GruSpec.of(3), DenseSpec.of(1, DenseActivation.LINEAR))) {
            Path file = tmp.resolve("m.onnx");
            Files.writeString(file, "old");
            OnnxExport.write(model, file);
            assertArrayEquals(OnnxExport.export(model), Files.readAllBytes(file));
            try (Stream<Path> s = Files.list(tmp)) {
                assertEquals(List.of(file), s.toList());
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    private static Sequential build(int inputFeatures, LayerSpec... layers) {
        Random rnd = new Random(11);
        Sequential.Builder b = Sequential.builder(inputFeatures);
        int f = inputFeatures;
        for (LayerSpec spec : layers) {
            Map<String, Tensor> w = new LinkedHashMap<>();
            for (var e : spec.weightShapes(f).entrySet()) {
                long n = 1;
                for (long d : e.getValue()) {
                    n *= d;
                }
                float[] v = new float[Math.toIntExact(n)];
                for (int i = 0; i < v.length; i++) {
                    v[i] = rnd.nextFloat() - 0.5f;
                }
                w.put(e.getKey(), Tensor.of(v, e.getValue()));
            }
            b.add(spec, w);
            f = spec.outputFeatures(f);
        }
        return b.build();
    }

    private static List<Message> nodes(Message graph) {
        return graph.messages(1);
    }

    private static List<String> opTypes(Message graph) {
        return nodes(graph).stream().map(n -> n.string(4)).toList();
    }

    /** Float initializers by name: dims; also checks raw_data holds exactly prod(dims) float32s. */
    private static Map<String, List<Long>> floatInitializerShapes(Message graph) {
        Map<String, List<Long>> out = new LinkedHashMap<>();
        for (Message t : graph.messages(5)) {
            List<Long> dims = t.varints(1);
            long n = dims.stream().reduce(1L, Math::multiplyExact);
            long type = t.varint(2);
            assertEquals(n * (type == 1 ? 4 : 8), t.bytes(9).length, "raw_data length of " + t.string(8));
            if (type == 1) {
                out.put(t.string(8), dims);
            } else {
                assertEquals(7L, type, "only float and int64 initializers");
            }
        }
        return out;
    }

    private static Message initializer(Message graph, String name) {
        return graph.messages(5).stream().filter(t -> t.string(8).equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no initializer " + name));
    }

    private static float[] floats(Message tensor) {
        ByteBuffer bb = ByteBuffer.wrap(tensor.bytes(9)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[bb.remaining() / 4];
        bb.asFloatBuffer().get(out);
        return out;
    }

    private static List<Long> int64s(Message tensor) {
        assertEquals(7L, tensor.varint(2));
        ByteBuffer bb = ByteBuffer.wrap(tensor.bytes(9)).order(ByteOrder.LITTLE_ENDIAN);
        List<Long> out = new ArrayList<>();
        while (bb.hasRemaining()) {
            out.add(bb.getLong());
        }
        return out;
    }

    /** ValueInfoProto name, then TypeProto.tensor_type: elem_type float, shape dims (time null: no time axis). */
    private static void assertValueInfo(Message info, String name, String batch, String time, long features) {
        assertEquals(name, info.string(1));
        Message tensorType = info.message(2).message(1);
        assertEquals(1L, tensorType.varint(1), "elem_type float");
        List<Message> dims = tensorType.message(2).messages(1);
        assertEquals(time == null ? 2 : 3, dims.size());
        assertEquals(batch, dims.get(0).string(2));
        if (time != null) {
            assertEquals(time, dims.get(1).string(2));
        }
        assertEquals(features, dims.getLast().varint(1));
    }

    /**
     * A decoded protobuf message: for each field number, its values in order, as Long (varint or
     * fixed64), Integer (fixed32 bits) or byte[] (length-delimited). Packed repeated varints are
     * not expected from the exporter and not decoded.
     */
    private record Message(Map<Integer, List<Object>> fields) {
        static Message parse(byte[] data) {
            Map<Integer, List<Object>> fields = new LinkedHashMap<>();
            int[] pos = {0};
            while (pos[0] < data.length) {
                long tag = readVarint(data, pos);
                int field = (int) (tag >>> 3);
                Object value = switch ((int) (tag & 7)) {
                    case 0 -> readVarint(data, pos);
                    case 1 -> {
                        long v = ByteBuffer.wrap(data, pos[0], 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
                        pos[0] += 8;
                        yield v;
                    }
                    case 2 -> {
                        int len = Math.toIntExact(readVarint(data, pos));
                        byte[] v = java.util.Arrays.copyOfRange(data, pos[0], pos[0] + len);
                        if (v.length != len) {
                            throw new AssertionError("truncated field " + field);
                        }
                        pos[0] += len;
                        yield v;
                    }
                    case 5 -> {
                        int v = ByteBuffer.wrap(data, pos[0], 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
                        pos[0] += 4;
                        yield v;
                    }
                    default -> throw new AssertionError("wire type " + (tag & 7) + " at " + pos[0]);
                };
                fields.computeIfAbsent(field, k -> new ArrayList<>()).add(value);
            }
            return new Message(fields);
        }

        private static long readVarint(byte[] data, int[] pos) {
            long v = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                byte b = data[pos[0]++];
                v |= (long) (b & 0x7F) << shift;
                if (b >= 0) {
                    return v;
                }
            }
            throw new AssertionError("varint longer than 10 bytes");
        }

        private List<Object> all(int field) {
            return fields.getOrDefault(field, List.of());
        }

        private Object one(int field) {
            List<Object> v = all(field);
            assertEquals(1, v.size(), "field " + field + " count in " + fields.keySet());
            return v.getFirst();
        }

        long varint(int field) {
            return (Long) one(field);
        }

        List<Long> varints(int field) {
            return all(field).stream().map(o -> (Long) o).toList();
        }

        float float32(int field) {
            return Float.intBitsToFloat((Integer) one(field));
        }

        List<Float> floats(int field) {
            return all(field).stream().map(o -> Float.intBitsToFloat((Integer) o)).toList();
        }

        byte[] bytes(int field) {
            return (byte[]) one(field);
        }

        String string(int field) {
            return new String(bytes(field), StandardCharsets.UTF_8);
        }

        String stringOr(int field, String absent) {
            return all(field).isEmpty() ? absent : string(field);
        }

        List<String> strings(int field) {
            return all(field).stream().map(o -> new String((byte[]) o, StandardCharsets.UTF_8)).toList();
        }

        Message message(int field) {
            return parse(bytes(field));
        }

        List<Message> messages(int field) {
            return all(field).stream().map(o -> parse((byte[]) o)).toList();
        }

        /** The NodeProto attribute (field 5) named {@code name} (AttributeProto.name is field 1). */
        Message attribute(String name) {
            Message a = attributeOrNull(name);
            if (a == null) {
                throw new AssertionError("no attribute " + name);
            }
            return a;
        }

        Message attributeOrNull(String name) {
            return messages(5).stream().filter(a -> a.string(1).equals(name)).findFirst().orElse(null);
        }
    }
}
