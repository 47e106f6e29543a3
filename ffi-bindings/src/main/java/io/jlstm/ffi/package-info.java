/**
 * Foreign-function bindings of jlstm: library loading and FFM downcalls, nothing else. Knows no tensors;
 * validates every length and leading dimension before native code runs.
 *
 * <p>{@link io.jlstm.ffi.OpenBlas#load()} finds OpenBLAS (a named file, the system library, or the copy in
 * the {@code org.bytedeco:openblas} jar, extracted to a per-user cache) and keeps it loaded for the life of
 * the JVM. JVM flags needed: {@code --enable-native-access=ALL-UNNAMED} (or the module's name).
 */
package io.jlstm.ffi;
