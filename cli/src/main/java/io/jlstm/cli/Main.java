package io.jlstm.cli;

import java.io.BufferedWriter;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.logging.Level;
import java.util.logging.Logger;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;
import picocli.CommandLine.UnmatchedArgumentException;
import picocli.CommandLine.Model.CommandSpec;

/**
 * The {@code jlstm} command. {@link #run} parses the arguments, runs one subcommand and turns
 * every failure into an exit code and one message:
 *
 * <pre>
 * 0  success
 * 1  internal error: "jlstm: internal error: ..." (stack trace only with --debug or JLSTM_DEBUG=1)
 * 2  user mistake:   "jlstm: error: ..." (bad option, missing or unreadable file, wrong shape,
 *                    a file that is not what it claims to be); never a stack trace
 * </pre>
 *
 * Each call builds its own command objects; the one thing calls share is the JVM-wide level of
 * the {@code io.jlstm} logger, which every call sets.
 */
@Command(name = "jlstm", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Run LSTM and GRU models (jlstm safetensors files) on the JVM.",
        subcommands = {InfoCommand.class, InspectCommand.class, PredictCommand.class, ConvertCaseCommand.class,
                BenchCommand.class, ExampleCommand.class, DemoCommand.class, TrainCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Callable<Integer> {

    /** Exit code of a user mistake (picocli's usage-error code too). */
    public static final int EXIT_USAGE = 2;
    /** Exit code of an internal failure. */
    public static final int EXIT_INTERNAL = 1;

    /**
     * The runtime logs its choices (kernels, backend fallback) through System.Logger, which
     * without configuration prints two-line INFO records on stderr. The command reports those
     * choices itself, so they are shown only with --debug. Held here so the level is not lost
     * when the logger is garbage-collected.
     */
    private static final Logger RUNTIME_LOG = Logger.getLogger("io.jlstm");

    @Spec
    private CommandSpec spec;

    /** Declared so that picocli accepts it on every command; read by {@link #debugRequested}. */
    @Option(names = "--debug", scope = ScopeType.INHERIT,
            description = "Print stack traces of internal errors and the runtime's log (also JLSTM_DEBUG=1).")
    private boolean debug;

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(new BufferedWriter(new OutputStreamWriter(System.out, System.out.charset())));
        PrintWriter err = new PrintWriter(new OutputStreamWriter(System.err, System.err.charset()), true);
        int code = run(args, out, err);
        out.flush();
        err.flush();
        System.exit(code);
    }

    /** Runs the command with these arguments, printing to {@code out} and {@code err}; returns the exit code. */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        return execute(new CommandLine(new Main()), args, out, err);
    }

    /** {@link #run} on a given command tree (tests add commands that fail on purpose). */
    static int execute(CommandLine cl, String[] args, PrintWriter out, PrintWriter err) {
        boolean debug = debugRequested(args);
        RUNTIME_LOG.setLevel(debug ? Level.INFO : Level.SEVERE);
        cl.setOut(out);
        cl.setErr(err);
        cl.setParameterExceptionHandler(Main::usageError);
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> failure(e, cmd, debug));
        int code;
        try {
            code = cl.execute(args);
        } finally {
            out.flush();
            err.flush();
        }
        return code;
    }

    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(), "no command given");
    }

    /**
     * --debug is wanted by the exception handler, which picocli calls with a parse result that may
     * not hold the option (an inherited option is matched on the subcommand), and by the logger
     * set-up, which must happen before any runtime class initialises. A plain scan up to "--" is
     * the one place that sees it in every case.
     */
    private static boolean debugRequested(String[] args) {
        for (String a : args) {
            if (a.equals("--")) {
                break;
            }
            if (a.equals("--debug")) {
                return true;
            }
        }
        return "1".equals(System.getenv("JLSTM_DEBUG")) || "true".equalsIgnoreCase(System.getenv("JLSTM_DEBUG"));
    }

    /** A bad command line: the message, suggestions for a misspelt option, the short usage, exit 2. */
    private static int usageError(ParameterException e, String[] args) {
        CommandLine cmd = e.getCommandLine();
        PrintWriter err = cmd.getErr();
        // picocli checks required options before it complains about unknown ones; a misspelt
        // required option would then be reported only as missing.
        List<String> unmatched = cmd.getUnmatchedArguments();
        if (!(e instanceof UnmatchedArgumentException) && !unmatched.isEmpty()) {
            err.println("jlstm: error: unknown option or argument: '" + String.join("', '", unmatched) + "'");
        }
        err.println("jlstm: error: " + e.getMessage());
        UnmatchedArgumentException.printSuggestions(e, err);
        if (cmd.getCommandSpec().subcommands().isEmpty()) {
            err.print(cmd.getHelp().fullSynopsis());
        } else {
            err.print(cmd.getUsageMessage());
        }
        err.println("Try '" + cmd.getCommandSpec().qualifiedName() + " --help' for more information.");
        err.flush();
        return EXIT_USAGE;
    }

    private static int failure(Exception e, CommandLine cmd, boolean debug) {
        PrintWriter err = cmd.getErr();
        if (Failures.isUserMistake(e)) {
            // Never a stack trace here, --debug or not: the message is the whole story.
            err.println("jlstm: error: " + Failures.message(e));
            err.flush();
            return EXIT_USAGE;
        }
        err.println("jlstm: internal error: " + Failures.message(e));
        if (debug) {
            e.printStackTrace(err);
        } else {
            err.println("(run with --debug or JLSTM_DEBUG=1 for the stack trace)");
        }
        err.flush();
        return EXIT_INTERNAL;
    }

    /** The version from the jar manifest, or "development build" when run from classes. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"jlstm " + (v != null ? v : "(development build)"),
                    "Java " + Runtime.version() + " (" + System.getProperty("java.vendor") + ")"};
        }
    }
}
