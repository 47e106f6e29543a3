package io.jlstm.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.HexFormat;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Replaces a file atomically: the content goes to a temporary file in the same folder, is forced
 * to disk, and is then renamed over the target. A reader sees either the old file or the whole new
 * one, never a part; on any failure (an exception from the body included) the temporary file is
 * deleted and the target is left as it was.
 *
 * <p>The one implementation shared by every writer of the project ({@link SafetensorsWriter},
 * {@link Npy}, {@link Csv}, the ONNX exporter). Stateless and thread-safe.
 */
public final class AtomicFile {

    /** Writes the whole content to the channel; buffers of its own must be flushed before it returns. */
    @FunctionalInterface
    public interface Body {
        void writeTo(FileChannel channel) throws IOException;
    }

    private AtomicFile() {
    }

    /** Replaces {@code target} with what {@code body} writes, atomically. */
    public static void write(Path target, Body body) throws IOException {
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(body, "body");
        Path absolute = target.toAbsolutePath();
        Path folder = absolute.getParent();
        Path temp = createTemp(folder, absolute.getFileName().toString());
        try {
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                body.writeTo(channel);
                channel.force(true);
            }
            Files.move(temp, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (Throwable failure) {
            try {
                Files.deleteIfExists(temp);
            } catch (IOException cleanup) {
                failure.addSuppressed(cleanup);
            }
            throw failure;
        }
        forceFolder(folder);
    }

    /**
     * A new empty file next to the target. Created with CREATE_NEW rather than
     * Files.createTempFile, which would give it owner-only permissions that the rename would
     * then carry over to the target.
     */
    /** Replaces {@code target} with {@code bytes}, atomically. */
    public static void write(Path target, byte[] bytes) throws IOException {
        Objects.requireNonNull(bytes, "bytes");
        write(target, channel -> {
            java.nio.ByteBuffer buf = java.nio.ByteBuffer.wrap(bytes);
            while (buf.hasRemaining()) {
                channel.write(buf);
            }
        });
    }

    private static Path createTemp(Path folder, String targetName) throws IOException {
        for (int attempt = 0; ; attempt++) {
            String suffix = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
            Path temp = folder.resolve("." + targetName + "." + suffix + ".tmp");
            try {
                FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE).close();
                return temp;
            } catch (FileAlreadyExistsException e) {
                if (attempt == 9) {
                    throw e;
                }
            }
        }
    }

    /** Makes the rename durable where the platform allows forcing a folder (Linux does; Windows does not). */
    private static void forceFolder(Path folder) {
        try (FileChannel dir = FileChannel.open(folder, StandardOpenOption.READ)) {
            dir.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // Best effort: the file itself is already complete and in place.
        }
    }
}
