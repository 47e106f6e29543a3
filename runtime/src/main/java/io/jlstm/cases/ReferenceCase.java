package io.jlstm.cases;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.backend.Backend;
import io.jlstm.io.ModelFormatException;
import io.jlstm.layers.LayerConfigs;
import io.jlstm.layers.LayerSpec;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A reference case in the language-neutral format of {@code shared/oracle} (see its README): a
 * {@code case.json} with Keras layer configs, weights and expected outputs as raw little-endian
 * float32 files. Reads the format, never case names. Tensors it returns live in automatic arenas.
 * Immutable after {@link #read(Path)}.
 */
public final class ReferenceCase {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One expected tensor: a model output by name, or (layer >= 0) the output of an intermediate layer. */
    public record Expected(String name, int layer, long[] shape, Path file) {
        public Tensor read() throws IOException {
            return readF32(file, shape);
        }
    }

    /** |actual − expected| ≤ atol + rtol·|expected|. */
    public record Tolerance(double atol, double rtol) {
        public boolean accepts(double actual, double expected) {
            if (Double.isNaN(expected)) {
                return Double.isNaN(actual);
            }
            return Math.abs(actual - expected) <= atol + rtol * Math.abs(expected);
        }
    }

    private final Path dir;
    private final String name;
    private final String kind;
    private final String description;
    private final JsonNode root;
    private final long[] inputShape;

    private ReferenceCase(Path dir, JsonNode root) throws ModelFormatException {
        this.dir = dir;
        this.root = root;
        this.name = root.path("name").asText(dir.getFileName().toString());
        this.kind = root.path("kind").asText("");
        this.description = root.path("description").asText("");
        this.inputShape = shape(root.path("input").path("shape"), "input.shape");
    }

    /** Reads {@code dir/case.json}. */
    public static ReferenceCase read(Path dir) throws IOException {
        Path json = dir.resolve("case.json");
        if (!Files.isRegularFile(json)) {
            throw new NoSuchFileException(json.toString(), null, "a reference case folder needs a case.json");
        }
        JsonNode root;
        try {
            root = JSON.readTree(json.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(json + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(json + ": expected a JSON object");
        }
        return new ReferenceCase(dir, root);
    }

    /** Case folders under {@code casesDir} (each holding a case.json), sorted by folder name. */
    public static List<Path> list(Path casesDir) throws IOException {
        try (var s = Files.list(casesDir)) {
            return s.filter(p -> Files.isRegularFile(p.resolve("case.json"))).sorted().toList();
        }
    }

    public Path dir() {
        return dir;
    }

    public String name() {
        return name;
    }

    /** {@code forward} or {@code training}. */
    public String kind() {
        return kind;
    }

    public String description() {
        return description;
    }

    /** The raw case.json. */
    public JsonNode json() {
        return root;
    }

    public long[] inputShape() {
        return inputShape.clone();
    }

    public Tensor input() throws IOException {
        return readF32(dir.resolve(root.path("input").path("file").asText("input.f32")), inputShape);
    }

    /** The layer configs, parsed. An unsupported layer or option is an IllegalArgumentException naming it. */
    public List<LayerSpec> layerSpecs() {
        List<LayerSpec> specs = new ArrayList<>();
        JsonNode layers = root.path("layers");
        for (int i = 0; i < layers.size(); i++) {
            JsonNode l = layers.get(i);
            JsonNode config = l.has("config") ? l.get("config") : l;
            if (config.isObject() && !config.has("type") && l.has("type")) {
                config = ((com.fasterxml.jackson.databind.node.ObjectNode) config.deepCopy()).put("type", l.get("type").asText());
            }
            specs.add(LayerConfigs.fromJson(config, defaultName(l.path("type").asText("layer"), i)));
        }
        return specs;
    }

    private static String defaultName(String type, int i) {
        return type.toLowerCase(java.util.Locale.ROOT) + "_" + i;
    }

    /** Weights of layer {@code i} by Keras name, as the case stores them. */
    public Map<String, Tensor> layerWeights(int i) throws IOException {
        Map<String, Tensor> w = new LinkedHashMap<>();
        for (JsonNode wj : root.path("layers").get(i).path("weights")) {
            String n = wj.path("name").asText();
            w.put(n, readF32(dir.resolve(wj.path("file").asText()), shape(wj.path("shape"), "weight " + n)));
        }
        return w;
    }

    /** Builds the model of this case. {@code backend} null picks the default. */
    public Sequential toModel(Backend backend) throws IOException {
        List<LayerSpec> specs = layerSpecs();
        Sequential.Builder b = Sequential.builder(Math.toIntExact(inputShape[inputShape.length - 1]));
        for (int i = 0; i < specs.size(); i++) {
            b.add(specs.get(i), layerWeights(i));
        }
        if (backend != null) {
            b.backend(backend);
        }
        return b.build();
    }

    /** The expected model outputs, in Keras order. */
    public List<Expected> outputs() throws ModelFormatException {
        List<Expected> out = new ArrayList<>();
        for (JsonNode o : root.path("outputs")) {
            out.add(new Expected(o.path("name").asText(), -1, shape(o.path("shape"), "output"),
                    dir.resolve(o.path("file").asText())));
        }
        return out;
    }

    /** The expected outputs of non-final layers. */
    public List<Expected> intermediates() throws ModelFormatException {
        List<Expected> out = new ArrayList<>();
        for (JsonNode o : root.path("intermediates")) {
            out.add(new Expected(o.path("name").asText(), o.path("layer").asInt(), shape(o.path("shape"), "intermediate"),
                    dir.resolve(o.path("file").asText())));
        }
        return out;
    }

    /** The forward tolerance ({@code tolerance.atol}, {@code tolerance.rtol}). */
    public Tolerance tolerance() throws ModelFormatException {
        return tolerance(root.path("tolerance"));
    }

    /** A training case's tolerance for {@code what}: {@code loss}, {@code gradients} or {@code weights}. */
    public Tolerance tolerance(String what) throws ModelFormatException {
        JsonNode t = root.path("tolerance");
        JsonNode part = t.path(what).deepCopy();
        if (part.isObject() && t.has("rule")) {
            ((com.fasterxml.jackson.databind.node.ObjectNode) part).set("rule", t.get("rule"));
        }
        return tolerance(part);
    }

    /** The training target ({@code target.file}, {@code target.shape}). */
    public Tensor target() throws IOException {
        JsonNode t = root.path("target");
        return readF32(dir.resolve(t.path("file").asText("target.f32")), shape(t.path("shape"), "target"));
    }

    /** Reads a tensor the case names by file and shape (gradients, weights after a step). */
    public Tensor tensor(JsonNode entry) throws IOException {
        return readF32(dir.resolve(entry.path("file").asText()), shape(entry.path("shape"), entry.path("name").asText()));
    }

    private Tolerance tolerance(JsonNode t) throws ModelFormatException {
        JsonNode atol = t.path("atol");
        JsonNode rtol = t.path("rtol");
        if (!atol.isNumber() || !rtol.isNumber()) {
            throw new ModelFormatException("case " + name + ": tolerance needs numeric atol and rtol, got " + t);
        }
        String rule = t.path("rule").asText("");
        if (!rule.isEmpty() && !rule.replace(" ", "").startsWith("|actual-expected|<=atol+rtol*|expected|")) {
            throw new ModelFormatException("case " + name + ": unknown tolerance rule '" + rule + "'");
        }
        return new Tolerance(atol.asDouble(), rtol.asDouble());
    }

    private long[] shape(JsonNode s, String what) throws ModelFormatException {
        if (!s.isArray()) {
            throw new ModelFormatException(dir + ": " + what + " has no shape array");
        }
        long[] r = new long[s.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = s.get(i).asLong(-1);
            if (r[i] < 0) {
                throw new ModelFormatException(dir + ": " + what + " has a bad shape " + s);
            }
        }
        return r;
    }

    /** Reads a raw little-endian float32 file holding exactly prod(shape) values. */
    public static Tensor readF32(Path file, long[] shape) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        if (bytes.length != n * Float.BYTES) {
            throw new ModelFormatException(file + ": holds " + bytes.length + " bytes, shape " + Arrays.toString(shape)
                    + " needs " + n * Float.BYTES);
        }
        float[] v = new float[(int) n];
        java.nio.ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
        return Tensor.of(v, shape);
    }

    @Override
    public String toString() {
        return name + " (" + kind + ")";
    }

}
