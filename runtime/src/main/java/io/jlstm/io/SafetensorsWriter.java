package io.jlstm.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jlstm.Tensor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Objects;
import java.util.SequencedMap;

/**
 * Writes safetensors files of float32 tensors, laid out as the reference implementation does:
 * {@code __metadata__} first in the header, then the tensors in the given order with contiguous
 * data offsets from 0, the header padded with spaces to a multiple of 8 bytes so that the data
 * section starts 8-byte aligned, values little-endian.
 *
 * <p>The write is atomic (temporary file in the same folder, forced to disk, renamed over the
 * target): readers see the old file or the new one, and on failure the target is untouched.
 *
 * <p>Stateless and thread-safe. It only reads the tensors, which the caller keeps owning; they
 * must not be written to during the call.
 */
public final class SafetensorsWriter {

    private SafetensorsWriter() {
    }

    /**
     * Writes {@code tensors} (in their map order) and {@code metadata} to {@code file}.
     *
     * @param metadata string pairs for {@code __metadata__}; omitted from the header when empty
     * @throws IllegalArgumentException when a tensor is named {@code __metadata__}
     * @throws IOException              when the file cannot be written; the target is then unchanged
     */
    public static void write(Path file, Map<String, String> metadata, SequencedMap<String, Tensor> tensors) throws IOException {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(metadata, "metadata");
        Objects.requireNonNull(tensors, "tensors");
        byte[] header = header(metadata, tensors);
        AtomicFile.write(file, channel -> {
            ByteBuffer length = ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).flip();
            LittleEndian.writeFully(channel, length);
            LittleEndian.writeFully(channel, ByteBuffer.wrap(header));
            for (Tensor t : tensors.values()) {
                LittleEndian.writeFloats(channel, t);
            }
        });
    }

    /** The header JSON, space-padded to a multiple of 8 bytes. */
    private static byte[] header(Map<String, String> metadata, SequencedMap<String, Tensor> tensors) {
        ObjectNode root = SafetensorsFile.JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = root.putObject(SafetensorsFile.METADATA_KEY);
            metadata.forEach((k, v) -> meta.put(Objects.requireNonNull(k, "metadata key"),
                    Objects.requireNonNull(v, () -> "metadata value of '" + k + "'")));
        }
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            String name = Objects.requireNonNull(e.getKey(), "tensor name");
            Tensor t = Objects.requireNonNull(e.getValue(), () -> "tensor '" + name + "'");
            if (name.equals(SafetensorsFile.METADATA_KEY)) {
                throw new IllegalArgumentException("a tensor cannot be named " + SafetensorsFile.METADATA_KEY);
            }
            long bytes = t.size() * Float.BYTES;
            ObjectNode entry = root.putObject(name);
            entry.put("dtype", DType.F32.name());
            ArrayNode shape = entry.putArray("shape");
            Arrays.stream(t.shape()).forEach(shape::add);
            entry.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] json;
        try {
            json = SafetensorsFile.JSON.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise a header of strings and numbers", e);
        }
        int padded = (json.length + 7) & ~7;
        byte[] header = Arrays.copyOf(json, padded);
        Arrays.fill(header, json.length, padded, (byte) ' ');
        return header;
    }
}
