import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The UC Connector's Command Line Arguments as a plain Java server reads them.
 *
 * <p><b>Splitting.</b> On Windows the Java launcher splits the command line with the
 * Microsoft C runtime's rules before {@code main} sees it: blanks separate words, double
 * quotes group, {@code 2n} backslashes before a quote give {@code n} backslashes and toggle
 * quoting, {@code 2n+1} give {@code n} backslashes and a literal quote, other backslashes
 * are literal ({@code C:\GCTI\x.pfx} needs no escaping), and {@code ""} inside quotes is a
 * literal quote. Line breaks count as blanks (the field is one line; a pasted block keeps
 * its breaks).
 *
 * <p><b>Reading.</b> A hand-rolled {@code -name value} loop, the way a Java server without
 * an options library reads its arguments:
 * <ul>
 *   <li>a word starting with {@code -} and a letter or {@code _} is an option; the next word
 *       is its value unless that word is an option too;</li>
 *   <li>names are matched exactly (case-sensitive); a known option given twice keeps the
 *       last value; a known option without a value sets nothing;</li>
 *   <li>an option it does not know is skipped together with its value. So the page's
 *       {@code -ket_store_type jks} is silently ignored (the trust store type stays Java's
 *       default, {@code pkcs12}, which still loads a JKS file), and the page's
 *       {@code -cert_store_<path>} (the option glued to its value) is an unknown option:
 *       no key store is configured and Java sends no client certificate;</li>
 *   <li>words that are neither options nor values (the page's explanation pasted along)
 *       are ignored;</li>
 *   <li>values are taken literally: a placeholder left in place ({@code <password>}) is the
 *       password {@code <password>}; a value that starts with {@code -} and a letter is
 *       mistaken for the next option.</li>
 * </ul>
 * Everything ignored is reported, so a report shows what Java made of the line.
 */
record ConnectorArguments(
        Map<String, String> values, List<List<String>> ignored, List<String> stray, List<String> missingValue) {

    static final String HOST = "-host";
    static final String PORT = "-port";
    static final String APP = "-app";
    static final String CERT_STORE_FILE = "-cert_store_file";
    static final String CERT_STORE_PASS = "-cert_store_pass";
    static final String CERT_STORE_TYPE = "-cert_store_type";
    static final String KEY_STORE_FILE = "-key_store_file";
    static final String KEY_STORE_PASS = "-key_store_pass";
    static final String KEY_STORE_TYPE = "-key_store_type";
    static final String KRB_CONF_FILE = "-krb_conf_file";

    static final Set<String> KNOWN = Set.of(
            HOST, PORT, APP, CERT_STORE_FILE, CERT_STORE_PASS, CERT_STORE_TYPE,
            KEY_STORE_FILE, KEY_STORE_PASS, KEY_STORE_TYPE, KRB_CONF_FILE);
    static final String MASK = "********";

    /** Split {@code commandLine} as Windows does and read it as described above. */
    static ConnectorArguments parse(String commandLine) {
        List<String> words = split(commandLine);
        Map<String, String> values = new LinkedHashMap<>();
        List<List<String>> ignored = new ArrayList<>();
        List<String> stray = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        // A password with a blank in it, unquoted, leaves its tail as stray words: mask those.
        boolean afterSecret = false;
        for (int i = 0; i < words.size(); i++) {
            String word = words.get(i);
            if (!isOption(word)) {
                stray.add(afterSecret ? MASK : word);
                continue;
            }
            String value = i + 1 < words.size() && !isOption(words.get(i + 1)) ? words.get(++i) : null;
            boolean secret = isSecret(word);
            afterSecret = secret && value != null;
            if (!KNOWN.contains(word)) {
                ignored.add(Arrays.asList(word, secret && value != null ? MASK : value));
            } else if (value == null) {
                missing.add(word);
            } else {
                values.put(word, value);
            }
        }
        return new ConnectorArguments(values, ignored, stray, missing);
    }

    /** The words of {@code commandLine} after the Microsoft C runtime's splitting. */
    static List<String> split(String commandLine) {
        List<String> words = new ArrayList<>();
        int i = 0;
        int n = commandLine.length();
        while (i < n) {
            while (i < n && isBlank(commandLine.charAt(i))) {
                i++;
            }
            if (i >= n) {
                break;
            }
            StringBuilder word = new StringBuilder();
            boolean inQuotes = false;
            while (i < n && (inQuotes || !isBlank(commandLine.charAt(i)))) {
                char c = commandLine.charAt(i);
                if (c == '\\') {
                    int j = i;
                    while (j < n && commandLine.charAt(j) == '\\') {
                        j++;
                    }
                    int count = j - i;
                    if (j < n && commandLine.charAt(j) == '"') {
                        word.append("\\".repeat(count / 2));
                        if (count % 2 == 1) {
                            word.append('"');
                            i = j + 1;
                        } else {
                            i = j; // the quote toggles quoting on the next turn
                        }
                    } else {
                        word.append("\\".repeat(count));
                        i = j;
                    }
                } else if (c == '"') {
                    if (inQuotes && i + 1 < n && commandLine.charAt(i + 1) == '"') {
                        word.append('"');
                        i += 2;
                    } else {
                        inQuotes = !inQuotes;
                        i++;
                    }
                } else {
                    word.append(c);
                    i++;
                }
            }
            words.add(word.toString());
        }
        return words;
    }

    String get(String option) {
        return values.get(option);
    }

    /** What was read, passwords masked. */
    Map<String, Object> toJson() {
        Map<String, Object> options = new LinkedHashMap<>();
        values.forEach((name, value) -> options.put(name, isSecret(name) ? MASK : value));
        return Json.obj("options", options, "ignored", ignored, "stray", stray, "missing_value", missingValue);
    }

    private static boolean isOption(String word) {
        return word.length() > 1 && word.charAt(0) == '-'
                && (Character.isLetter(word.charAt(1)) || word.charAt(1) == '_');
    }

    private static boolean isSecret(String option) {
        return option.toLowerCase(Locale.ROOT).contains("pass");
    }

    private static boolean isBlank(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
    }

    /**
     * Where the connector host's files are: with {@code --files DIR}, any path of the command
     * line stands for {@code DIR/<its file name>} (Windows or POSIX separators); without it,
     * paths are used as they are.
     */
    record HostFiles(Path directory) {

        Path local(String path) {
            if (directory == null) {
                return Path.of(path);
            }
            int cut = Math.max(path.lastIndexOf('\\'), path.lastIndexOf('/'));
            return directory.resolve(path.substring(cut + 1));
        }

        Map<String, Object> describe(String option, String path) {
            Path local = local(path);
            return Json.obj("option", option, "given", path, "local", local.toString(), "exists", Files.exists(local));
        }
    }
}
