package io.jlstm.ffi;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;

/**
 * The OpenBLAS copy carried as resources by the {@code org.bytedeco:openblas:0.3.28-1.5.11:linux-x86_64} jar.
 * Only the jar's resources are read; no JavaCPP class is used.
 *
 * <p>Extraction writes each file to a temporary file in the target folder and renames it into place
 * atomically, so a concurrent JVM sees either the old complete file or the new complete file, and a
 * process that already has the old file mapped keeps its (unlinked) inode. A cached file is reused when
 * its SHA-256 equals that of the resource, and replaced otherwise. Stateless and thread-safe.
 */
final class BundledOpenBlas {

    /** The bytedeco artifact version whose resources are extracted; keep in step with the root pom. */
    static final String VERSION = "0.3.28-1.5.11";
    /** The OpenBLAS release inside it: {@code openblas_get_config()} of the bundled copy starts "OpenBLAS 0.3.28 ". */
    static final String OPENBLAS_VERSION = VERSION.substring(0, VERSION.indexOf('-'));
    static final String PLATFORM = "linux-x86_64";
    static final String RESOURCE_DIR = "org/bytedeco/openblas/" + PLATFORM + "/";
    static final String LIBRARY = "libopenblas.so.0";
    /** libopenblas.so.0 NEEDS libgfortran.so.5 (which needs the other two); its RUNPATH $ORIGIN finds them beside it. */
    static final List<String> FILES = List.of("libgcc_s.so.1", "libquadmath.so.0", "libgfortran.so.5", LIBRARY);
    static final String CACHE_FOLDER = "openblas-" + VERSION + "-" + PLATFORM;
    static final String ARTIFACT = "org.bytedeco:openblas:" + VERSION + ":" + PLATFORM;

    private BundledOpenBlas() {}

    /** What one extraction did: the library path, and the file names it had to (re)write. */
    record Extraction(Path library, List<String> written) {}

    /** {@code ${jlstm.cache.dir}}, else {@code ${user.home}/.cache/jlstm}. */
    static Path defaultCacheRoot() {
        String dir = System.getProperty("jlstm.cache.dir");
        if (dir != null && !dir.isBlank()) {
            return Path.of(dir);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "jlstm");
    }

    /** Null when the bundled library can run here, else why not. */
    static String unsupportedPlatform() {
        String os = System.getProperty("os.name", "");
        String arch = System.getProperty("os.arch", "");
        boolean linux = os.toLowerCase(Locale.ROOT).startsWith("linux");
        boolean x64 = arch.equals("amd64") || arch.equals("x86_64");
        return linux && x64 ? null
                : "the bundled OpenBLAS is for " + PLATFORM + " only, this host is " + os + " " + arch;
    }

    /**
     * Extracts (or reuses) the bundled files into {@code cacheRoot/openblas-0.3.28-1.5.11-linux-x86_64/}.
     *
     * @throws OpenBlasUnavailableException when the platform is not linux-x86_64, the jar is not visible to
     *                                      {@code resources}, or the files cannot be written
     */
    static Extraction extract(ClassLoader resources, Path cacheRoot) {
        String unsupported = unsupportedPlatform();
        if (unsupported != null) {
            throw new OpenBlasUnavailableException(null, unsupported);
        }
        // Is the jar there at all? Asked before anything is created on disk.
        if ((resources == null ? ClassLoader.getSystemResource(RESOURCE_DIR + LIBRARY)
                : resources.getResource(RESOURCE_DIR + LIBRARY)) == null) {
            throw new OpenBlasUnavailableException(null, ARTIFACT + " is not on the class path (no resource "
                    + RESOURCE_DIR + LIBRARY + ")");
        }
        Path dir = cacheRoot.resolve(CACHE_FOLDER);
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new OpenBlasUnavailableException(dir, "cannot create the cache folder (" + e + ")"
                    + "; set jlstm.cache.dir to a writable folder", e);
        }
        List<String> written = new ArrayList<>();
        for (String name : FILES) {
            if (extractOne(resources, name, dir.resolve(name))) {
                written.add(name);
            }
        }
        return new Extraction(dir.resolve(LIBRARY), List.copyOf(written));
    }

    /** Returns true when the file had to be written, false when the cached copy matched. */
    private static boolean extractOne(ClassLoader resources, String name, Path target) {
        String resource = RESOURCE_DIR + name;
        byte[] expected;
        try (InputStream in = open(resources, resource)) {
            expected = sha256(in);
        } catch (IOException e) {
            throw new OpenBlasUnavailableException(target, "cannot read resource " + resource + " (" + e + ")", e);
        }
        try {
            if (Files.isRegularFile(target)) {
                byte[] actual;
                try (InputStream in = Files.newInputStream(target)) {
                    actual = sha256(in);
                }
                if (Arrays.equals(actual, expected)) {
                    return false;
                }
            }
            Path tmp = Files.createTempFile(target.getParent(), "." + name + ".", ".tmp");
            try {
                MessageDigest digest = newSha256();
                try (InputStream in = open(resources, resource);
                     OutputStream out = new DigestOutputStream(Files.newOutputStream(tmp), digest)) {
                    in.transferTo(out);
                }
                byte[] copied = digest.digest();
                if (!Arrays.equals(copied, expected)) {
                    throw new IOException("resource " + resource + " changed while it was read: SHA-256 "
                            + HexFormat.of().formatHex(copied) + ", expected " + HexFormat.of().formatHex(expected));
                }
                if (FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
                    // createTempFile makes it 0600; a library is conventionally world-readable.
                    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
                }
                try {
                    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(tmp);
            }
            return true;
        } catch (IOException e) {
            throw new OpenBlasUnavailableException(target, "cannot extract " + resource + " (" + e + ")"
                    + "; set jlstm.cache.dir to a writable folder", e);
        }
    }

    private static InputStream open(ClassLoader resources, String resource) {
        InputStream in = resources == null ? ClassLoader.getSystemResourceAsStream(resource)
                : resources.getResourceAsStream(resource);
        if (in == null) {
            throw new OpenBlasUnavailableException(null, ARTIFACT + " is not on the class path (no resource "
                    + resource + ")");
        }
        return in;
    }

    private static byte[] sha256(InputStream in) throws IOException {
        MessageDigest digest = newSha256();
        byte[] buffer = new byte[1 << 16];
        for (int n; (n = in.read(buffer)) > 0; ) {
            digest.update(buffer, 0, n);
        }
        return digest.digest();
    }

    private static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError("every Java platform has SHA-256", e);
        }
    }
}
