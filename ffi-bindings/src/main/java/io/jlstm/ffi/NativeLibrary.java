package io.jlstm.ffi;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Opening shared libraries for the life of the JVM, with the reasons a bare
 * {@link SymbolLookup#libraryLookup} leaves out ("Cannot open library" says neither what was wrong nor
 * what the dynamic loader said). Stateless and thread-safe.
 *
 * <p>Every library that is used is opened in {@link Arena#global()}: it is never unloaded, because downcall
 * handles and OpenBLAS's own worker threads may still run its code at any time until the JVM exits. The one
 * exception is {@link #openName(String, Arena)}, which {@link OpenBlasLoader} uses to look at a system
 * library before deciding whether to use it (closing that arena dlcloses it).
 */
@SuppressWarnings("restricted")  // this module exists to make native calls; callers pass --enable-native-access
final class NativeLibrary {

    private static final int RTLD_LAZY = 1;
    private static final String DELETED = " (deleted)";

    private NativeLibrary() {}

    /** Opens exactly this file, or throws with the file and the loader's own error. */
    static SymbolLookup openFile(Path file) {
        if (!Files.exists(file)) {
            throw new OpenBlasUnavailableException(file, "no such file");
        }
        if (!Files.isRegularFile(file)) {
            throw new OpenBlasUnavailableException(file, "not a regular file");
        }
        // Check the ELF magic first: the JVM inspects a file's stack flags before dlopen and prints a
        // "might have disabled stack guard" warning for any non-ELF file it is handed.
        byte[] head = new byte[4];
        int read;
        try (InputStream in = Files.newInputStream(file)) {
            read = in.readNBytes(head, 0, 4);
        } catch (IOException e) {
            throw new OpenBlasUnavailableException(file, "cannot read (" + e + ")", e);
        }
        if (read < 4 || head[0] != 0x7f || head[1] != 'E' || head[2] != 'L' || head[3] != 'F') {
            throw new OpenBlasUnavailableException(file, "not a shared library (no ELF header)");
        }
        try {
            return SymbolLookup.libraryLookup(file, Arena.global());
        } catch (IllegalArgumentException e) {
            String why = dlerror(file.toString()).orElse(e.getMessage());
            if (why.contains("failed to map segment")) {
                why += " (is the folder on a noexec file system? set jlstm.cache.dir elsewhere)";
            }
            throw new OpenBlasUnavailableException(file, "dlopen failed: " + why, e);
        }
    }

    /** Opens a library by name through the dynamic loader's search path, or throws with the loader's error. */
    static SymbolLookup openName(String name) {
        return openName(name, Arena.global());
    }

    /**
     * As {@link #openName(String)}, but for as long as {@code arena} is open: closing it dlcloses the
     * library (unloaded when nothing else holds it), and the symbols found here then fail with
     * {@link IllegalStateException} instead of calling unmapped code.
     */
    static SymbolLookup openName(String name, Arena arena) {
        try {
            return SymbolLookup.libraryLookup(name, arena);
        } catch (IllegalArgumentException e) {
            throw new OpenBlasUnavailableException(null, "dlopen failed: " + dlerror(name).orElse(e.getMessage()), e);
        }
    }

    /**
     * Repeats a failed dlopen to fetch dlerror(), which the JDK does not report. Empty when libc does not
     * export dlopen/dlerror (glibc before 2.34 keeps them in libdl) or the second attempt succeeds.
     */
    static Optional<String> dlerror(String nameOrPath) {
        try {
            Linker linker = Linker.nativeLinker();
            SymbolLookup libc = linker.defaultLookup();
            Optional<MemorySegment> dlopen = libc.find("dlopen");
            Optional<MemorySegment> dlerror = libc.find("dlerror");
            Optional<MemorySegment> dlclose = libc.find("dlclose");
            if (dlopen.isEmpty() || dlerror.isEmpty() || dlclose.isEmpty()) {
                return Optional.empty();
            }
            MethodHandle open = linker.downcallHandle(dlopen.get(),
                    FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            MethodHandle error = linker.downcallHandle(dlerror.get(), FunctionDescriptor.of(ValueLayout.ADDRESS));
            MethodHandle close = linker.downcallHandle(dlclose.get(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment handle = (MemorySegment) open.invokeExact(arena.allocateFrom(nameOrPath), RTLD_LAZY);
                if (!handle.equals(MemorySegment.NULL)) {
                    int ignored = (int) close.invokeExact(handle);
                    return Optional.empty();
                }
                MemorySegment message = (MemorySegment) error.invokeExact();
                if (message.equals(MemorySegment.NULL)) {
                    return Optional.empty();
                }
                String text = cString(message);
                // glibc says "<name>: <what>"; the caller already names the file.
                return Optional.of(text.startsWith(nameOrPath + ": ") ? text.substring(nameOrPath.length() + 2) : text);
            }
        } catch (Throwable t) {
            return Optional.empty();  // diagnostics only: never mask the original failure
        }
    }

    /** Reads a NUL-terminated string that native code returned as a zero-length segment. */
    static String cString(MemorySegment pointer) {
        return pointer.reinterpret(Long.MAX_VALUE).getString(0);
    }

    /**
     * The file mapped at this address in this process, from /proc/self/maps; empty where there is no
     * /proc (not Linux) or no file mapping covers it. Gives the real path of a library opened by name.
     */
    static Optional<Path> mappedFileContaining(MemorySegment address) {
        long at = address.address();
        return mappings().stream()
                .filter(m -> Long.compareUnsigned(at, m.start()) >= 0 && Long.compareUnsigned(at, m.end()) < 0)
                .findFirst().map(Mapping::file);
    }

    /** Every file mapped into this process now (empty where there is no /proc). */
    static Set<Path> mappedFiles() {
        Set<Path> files = new HashSet<>();
        for (Mapping m : mappings()) {
            files.add(m.file());
        }
        return files;
    }

    private record Mapping(long start, long end, Path file) {}

    private static List<Mapping> mappings() {
        Path maps = Path.of("/proc/self/maps");
        List<String> lines;
        try {
            lines = Files.isReadable(maps) ? Files.readAllLines(maps) : List.of();
        } catch (IOException e) {
            return List.of();
        }
        List<Mapping> mappings = new ArrayList<>();
        // Line: "start-end perms offset dev inode   path", the path possibly containing spaces.
        for (String line : lines) {
            int dash = line.indexOf('-');
            int space = line.indexOf(' ');
            int slash = line.indexOf('/');
            if (dash <= 0 || space <= dash || slash < 0) {
                continue;
            }
            String file = line.substring(slash);
            if (file.endsWith(DELETED)) {  // replaced on disk after it was mapped
                file = file.substring(0, file.length() - DELETED.length());
            }
            mappings.add(new Mapping(Long.parseUnsignedLong(line, 0, dash, 16),
                    Long.parseUnsignedLong(line, dash + 1, space, 16), Path.of(file)));
        }
        return mappings;
    }
}
