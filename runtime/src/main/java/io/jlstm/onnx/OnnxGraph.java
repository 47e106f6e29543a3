package io.jlstm.onnx;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * An ONNX graph under construction, encoded straight to protobuf as nodes and initializers are
 * added. Field numbers are those of {@code onnx/onnx.proto} (IR version 8).
 *
 * <p>Owns heap buffers only; confined to the thread that builds it.
 */
final class OnnxGraph {
    static final int IR_VERSION = 8;
    static final int OPSET = 17;

    // ModelProto
    private static final int MODEL_IR_VERSION = 1;
    private static final int MODEL_PRODUCER_NAME = 2;
    private static final int MODEL_GRAPH = 7;
    private static final int MODEL_OPSET_IMPORT = 8;
    // OperatorSetIdProto
    private static final int OPSET_VERSION = 2;
    // GraphProto
    private static final int GRAPH_NODE = 1;
    private static final int GRAPH_NAME = 2;
    private static final int GRAPH_INITIALIZER = 5;
    private static final int GRAPH_INPUT = 11;
    private static final int GRAPH_OUTPUT = 12;
    // NodeProto
    private static final int NODE_INPUT = 1;
    private static final int NODE_OUTPUT = 2;
    private static final int NODE_NAME = 3;
    private static final int NODE_OP_TYPE = 4;
    private static final int NODE_ATTRIBUTE = 5;
    // AttributeProto and its AttributeType enum
    private static final int ATTR_NAME = 1;
    private static final int ATTR_F = 2;
    private static final int ATTR_I = 3;
    private static final int ATTR_S = 4;
    private static final int ATTR_FLOATS = 7;
    private static final int ATTR_INTS = 8;
    private static final int ATTR_STRINGS = 9;
    private static final int ATTR_TYPE = 20;
    private static final int TYPE_FLOAT = 1;
    private static final int TYPE_INT = 2;
    private static final int TYPE_STRING = 3;
    private static final int TYPE_FLOATS = 6;
    private static final int TYPE_INTS = 7;
    private static final int TYPE_STRINGS = 8;
    // TensorProto and its DataType enum
    private static final int TENSOR_DIMS = 1;
    private static final int TENSOR_DATA_TYPE = 2;
    private static final int TENSOR_NAME = 8;
    private static final int TENSOR_RAW_DATA = 9;
    static final int DATA_FLOAT = 1;
    static final int DATA_INT64 = 7;
    // ValueInfoProto, TypeProto, TypeProto.Tensor, TensorShapeProto, TensorShapeProto.Dimension
    private static final int VALUE_NAME = 1;
    private static final int VALUE_TYPE = 2;
    private static final int TYPE_TENSOR_TYPE = 1;
    private static final int TENSOR_TYPE_ELEM_TYPE = 1;
    private static final int TENSOR_TYPE_SHAPE = 2;
    private static final int SHAPE_DIM = 1;
    private static final int DIM_VALUE = 1;
    private static final int DIM_PARAM = 2;

    /** A graph input or output dimension: a fixed size, or a name for a size known only at run time. */
    record Dim(long value, String param) {
        static Dim of(long value) {
            return new Dim(value, null);
        }

        static Dim named(String param) {
            return new Dim(-1, param);
        }
    }

    private final List<Node> nodes = new ArrayList<>();
    private final ProtoWriter initializers = new ProtoWriter();
    private final Map<String, String> constants = new HashMap<>();
    private final Set<String> names = new HashSet<>();

    /** A node being added; attributes go after its inputs, outputs, name and op type. */
    final class Node {
        private final ProtoWriter proto = new ProtoWriter();

        private Node(String opType, String name, List<String> inputs, List<String> outputs) {
            inputs.forEach(in -> proto.string(NODE_INPUT, in));
            outputs.forEach(out -> proto.string(NODE_OUTPUT, out));
            proto.string(NODE_NAME, name).string(NODE_OP_TYPE, opType);
        }

        Node attr(String name, long value) {
            return attribute(name, TYPE_INT, a -> a.varint(ATTR_I, value));
        }

        Node attr(String name, float value) {
            return attribute(name, TYPE_FLOAT, a -> a.float32(ATTR_F, value));
        }

        Node attr(String name, String value) {
            return attribute(name, TYPE_STRING, a -> a.string(ATTR_S, value));
        }

        Node ints(String name, long... values) {
            return attribute(name, TYPE_INTS, a -> Arrays.stream(values).forEach(v -> a.varint(ATTR_INTS, v)));
        }

        Node floats(String name, List<Float> values) {
            return attribute(name, TYPE_FLOATS, a -> values.forEach(v -> a.float32(ATTR_FLOATS, v)));
        }

        Node strings(String name, List<String> values) {
            return attribute(name, TYPE_STRINGS, a -> values.forEach(v -> a.string(ATTR_STRINGS, v)));
        }

        private Node attribute(String name, int type, Consumer<ProtoWriter> value) {
            ProtoWriter a = new ProtoWriter().string(ATTR_NAME, name).varint(ATTR_TYPE, type);
            value.accept(a);
            proto.message(NODE_ATTRIBUTE, a);
            return this;
        }
    }

    /** A name not used yet in this graph, built from {@code base}. */
    String fresh(String base) {
        String name = base;
        for (int n = 1; !names.add(name); n++) {
            name = base + "_" + n;
        }
        return name;
    }

    /** Adds a node whose single output is {@code output}. */
    Node node(String opType, String output, String... inputs) {
        return node(opType, List.of(inputs), List.of(output));
    }

    Node node(String opType, List<String> inputs, List<String> outputs) {
        Node n = new Node(opType, fresh(outputs.stream().filter(o -> !o.isEmpty()).findFirst().orElse("node")
                + "/" + opType), inputs, outputs);
        nodes.add(n);
        return n;
    }

    /** Adds a float32 initializer called {@code name} (made unique) and returns its name. */
    String floats(String name, long[] dims, float[] data) {
        ByteBuffer raw = ByteBuffer.allocate(Math.multiplyExact(data.length, Float.BYTES)).order(ByteOrder.LITTLE_ENDIAN);
        raw.asFloatBuffer().put(data);
        return initializer(fresh(name), DATA_FLOAT, dims, raw.array());
    }

    /** An int64 constant, shared by every node that asks for the same dims and values. */
    String int64s(long[] dims, long... values) {
        String key = "i64" + Arrays.toString(dims) + Arrays.toString(values);
        String existing = constants.get(key);
        if (existing != null) {
            return existing;
        }
        ByteBuffer raw = ByteBuffer.allocate(values.length * Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        raw.asLongBuffer().put(values);
        String name = initializer(fresh("const_i64_" + constants.size()), DATA_INT64, dims, raw.array());
        constants.put(key, name);
        return name;
    }

    /** A float scalar constant, shared like {@link #int64s}. */
    String floatScalar(float value) {
        String key = "f32" + Float.floatToRawIntBits(value);
        String existing = constants.get(key);
        if (existing != null) {
            return existing;
        }
        String name = floats("const_f32_" + constants.size(), new long[0], new float[] {value});
        constants.put(key, name);
        return name;
    }

    private String initializer(String name, int dataType, long[] dims, byte[] raw) {
        ProtoWriter t = new ProtoWriter();
        for (long d : dims) {
            t.varint(TENSOR_DIMS, d);
        }
        t.varint(TENSOR_DATA_TYPE, dataType).string(TENSOR_NAME, name).bytes(TENSOR_RAW_DATA, raw);
        initializers.message(GRAPH_INITIALIZER, t);
        return name;
    }

    /** The ModelProto: this graph, one float input and one float output, opset {@value #OPSET} of the default domain. */
    byte[] toModel(String graphName, String input, List<Dim> inputDims, String output, List<Dim> outputDims) {
        ProtoWriter graph = new ProtoWriter();
        for (Node n : nodes) {
            graph.message(GRAPH_NODE, n.proto);
        }
        graph.string(GRAPH_NAME, graphName);
        graph.append(initializers); // already a run of GRAPH_INITIALIZER fields
        graph.message(GRAPH_INPUT, valueInfo(input, inputDims));
        graph.message(GRAPH_OUTPUT, valueInfo(output, outputDims));
        return new ProtoWriter()
                .varint(MODEL_IR_VERSION, IR_VERSION)
                .string(MODEL_PRODUCER_NAME, "jlstm")
                .message(MODEL_GRAPH, graph)
                .message(MODEL_OPSET_IMPORT, new ProtoWriter().varint(OPSET_VERSION, OPSET))
                .toByteArray();
    }

    private static ProtoWriter valueInfo(String name, List<Dim> dims) {
        ProtoWriter shape = new ProtoWriter();
        for (Dim d : dims) {
            ProtoWriter dim = new ProtoWriter();
            if (d.param() != null) {
                dim.string(DIM_PARAM, d.param());
            } else {
                dim.varint(DIM_VALUE, d.value());
            }
            shape.message(SHAPE_DIM, dim);
        }
        ProtoWriter tensorType = new ProtoWriter().varint(TENSOR_TYPE_ELEM_TYPE, DATA_FLOAT).message(TENSOR_TYPE_SHAPE, shape);
        ProtoWriter type = new ProtoWriter().message(TYPE_TENSOR_TYPE, tensorType);
        return new ProtoWriter().string(VALUE_NAME, name).message(VALUE_TYPE, type);
    }
}
