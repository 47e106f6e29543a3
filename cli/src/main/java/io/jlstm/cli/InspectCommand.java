package io.jlstm.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.backend.Backends;
import io.jlstm.layers.BidirectionalSpec;
import io.jlstm.layers.LayerConfigs;
import io.jlstm.layers.LayerSpec;
import io.jlstm.layers.RecurrentSpec;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code jlstm inspect MODEL}: the layer stack, weights and outputs of a model file. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Show a model's input, layers (options, output shape, parameters), weight tensors and outputs.")
final class InspectCommand implements Callable<Integer> {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", description = "A jlstm model file (.safetensors).")
    private Path model;

    @Option(names = "--json", description = "Print one JSON object instead of text.")
    private boolean json;

    /** One layer as shown: what the model file and the spec say, with the derived shape and size. */
    private record LayerRow(int index, LayerSpec spec, int inputFeatures, List<Object> outputShape, long parameters,
                            Map<String, Tensor> weights) {
    }

    @Override
    public Integer call() throws IOException {
        TensorFiles.requireReadable(model, "model file");
        // The Java backend: inspecting needs no OpenBLAS, and loading it costs time.
        try (Sequential m = Sequential.load(model, Backends.java())) {
            List<LayerRow> rows = new ArrayList<>();
            boolean sequence = true;
            for (int i = 0; i < m.layers().size(); i++) {
                LayerSpec s = m.layers().get(i);
                int in = m.layerInputFeatures(i);
                sequence = s.outputIsSequence(sequence);
                long params = 0;
                for (long[] shape : s.weightShapes(in).values()) {
                    params += product(shape);
                }
                rows.add(new LayerRow(i, s, in, shape(sequence, s.outputFeatures(in)), params, m.layerWeights(i)));
            }
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                out.println(JSON.writeValueAsString(toJson(m, rows)));
            } else {
                printText(out, m, rows);
            }
        }
        return 0;
    }

    private static long product(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** [batch, time, features] or [batch, features], with the free axes named. */
    private static List<Object> shape(boolean sequence, int features) {
        return sequence ? List.of("batch", "time", features) : List.of("batch", features);
    }

    private static String text(List<Object> shape) {
        return shape.toString();
    }

    /** The outputs of the model by name, with their shapes: the main output, then the states. */
    private static List<Map.Entry<String, List<Object>>> outputs(Sequential m, List<LayerRow> rows) {
        LayerSpec last = m.layers().getLast();
        int units = switch (last) {
            case RecurrentSpec r -> r.units();
            case BidirectionalSpec b -> b.layer().units();
            default -> 0;
        };
        List<Map.Entry<String, List<Object>>> out = new ArrayList<>();
        for (String name : m.outputNames()) {
            out.add(Map.entry(name, name.equals("output") ? rows.getLast().outputShape() : List.of("batch", units)));
        }
        return out;
    }

    /** Options as in the model file, except the two that are nearly always default. */
    private static String options(JsonNode config) {
        StringBuilder sb = new StringBuilder();
        for (Iterator<Map.Entry<String, JsonNode>> it = config.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String k = e.getKey();
            JsonNode v = e.getValue();
            if (k.equals("type") || k.equals("name")
                    || k.equals("use_bias") && v.asBoolean(false) || k.equals("go_backwards") && !v.asBoolean(true)) {
                continue;
            }
            sb.append(sb.isEmpty() ? "" : " ").append(k).append('=');
            if (v.isObject()) {
                sb.append(v.path("type").asText()).append('(').append(options(v)).append(')');
            } else {
                sb.append(v.isTextual() ? v.asText() : v.toString());
            }
        }
        return sb.toString();
    }

    private void printText(PrintWriter out, Sequential m, List<LayerRow> rows) throws IOException {
        AlignedLines head = new AlignedLines();
        head.add("model", model + " (" + Files.size(model) + " bytes)");
        head.add("input", text(shape(true, m.inputFeatures())));
        head.print(out);

        out.println("layers:");
        List<String[]> table = new ArrayList<>();
        table.add(new String[] {"#", "name", "type", "output", "params", "options"});
        for (LayerRow r : rows) {
            table.add(new String[] {String.valueOf(r.index()), r.spec().name(), r.spec().type(), text(r.outputShape()),
                    String.valueOf(r.parameters()), options(LayerConfigs.toJson(r.spec()))});
        }
        printTable(out, table);

        out.println("weights:");
        List<String[]> weights = new ArrayList<>();
        for (LayerRow r : rows) {
            for (var w : r.weights().entrySet()) {
                weights.add(new String[] {tensorName(r.index(), w.getKey()), TensorFiles.shape(w.getValue().shape())});
            }
        }
        printTable(out, weights);

        AlignedLines tail = new AlignedLines();
        tail.add("parameters", m.parameterCount());
        List<String> outs = new ArrayList<>();
        for (var o : outputs(m, rows)) {
            outs.add(o.getKey() + " " + text(o.getValue()));
        }
        tail.add("outputs", String.join(", ", outs));
        tail.print(out);
    }

    /** The tensor's name in the model file (see the runtime's ModelFile). */
    private static String tensorName(int layer, String weight) {
        return "layers." + layer + "." + weight;
    }

    /** Columns left-aligned, two spaces apart, indented by two; the last column is not padded. */
    private static void printTable(PrintWriter out, List<String[]> rows) {
        if (rows.isEmpty()) {
            return;
        }
        int[] width = new int[rows.getFirst().length];
        for (String[] r : rows) {
            for (int c = 0; c < r.length; c++) {
                width[c] = Math.max(width[c], r[c].length());
            }
        }
        for (String[] r : rows) {
            StringBuilder sb = new StringBuilder("  ");
            for (int c = 0; c < r.length; c++) {
                sb.append(r[c]);
                if (c < r.length - 1) {
                    sb.append(" ".repeat(width[c] - r[c].length() + 2));
                }
            }
            out.println(sb.toString().stripTrailing());
        }
    }

    private ObjectNode toJson(Sequential m, List<LayerRow> rows) throws IOException {
        ObjectNode o = JSON.createObjectNode();
        o.put("file", model.toString());
        o.put("bytes", Files.size(model));
        o.put("input_features", m.inputFeatures());
        o.set("input_shape", JSON.valueToTree(shape(true, m.inputFeatures())));
        ArrayNode layers = o.putArray("layers");
        for (LayerRow r : rows) {
            ObjectNode l = layers.addObject();
            l.put("index", r.index());
            l.put("name", r.spec().name());
            l.put("type", r.spec().type());
            l.set("config", LayerConfigs.toJson(r.spec()));
            l.put("input_features", r.inputFeatures());
            l.set("output_shape", JSON.valueToTree(r.outputShape()));
            l.put("parameters", r.parameters());
            ArrayNode ws = l.putArray("weights");
            for (var w : r.weights().entrySet()) {
                ObjectNode wj = ws.addObject();
                wj.put("name", w.getKey());
                wj.put("tensor", tensorName(r.index(), w.getKey()));
                wj.set("shape", JSON.valueToTree(w.getValue().shape()));
            }
        }
        o.put("parameters", m.parameterCount());
        ArrayNode outs = o.putArray("outputs");
        for (var e : outputs(m, rows)) {
            ObjectNode oj = outs.addObject();
            oj.put("name", e.getKey());
            oj.set("shape", JSON.valueToTree(e.getValue()));
        }
        return o;
    }
}
