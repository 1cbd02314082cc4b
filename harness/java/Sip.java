import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.net.ProtocolException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * SIP over a stream (RFC 3261 §7, §18.3), as much as the probe needs: read one message
 * framed by its Content-Length, build requests and the answers of a minimal UAS.
 */
final class Sip {

    /** Longest header block accepted before a message counts as malformed. */
    static final int MAX_HEADER_BYTES = 65536;

    // RFC 3261 §7.3.3 compact forms, for reading what a peer sends.
    private static final Map<String, String> COMPACT = Map.of(
            "i", "call-id", "f", "from", "t", "to", "v", "via", "l", "content-length",
            "m", "contact", "c", "content-type", "e", "content-encoding", "k", "supported", "o", "event");
    private static final SecureRandom RANDOM = new SecureRandom();

    private Sip() {
    }

    /** One SIP message: its start line, its headers in order ({@code name, value}) and its body. */
    record Message(String startLine, List<String[]> headers, byte[] body) {

        boolean isRequest() {
            return !startLine.startsWith("SIP/2.0 ");
        }

        /** The request's method, or for a response the method of its CSeq. */
        String method() {
            if (isRequest()) {
                return startLine.split(" ", 2)[0];
            }
            String cseq = header("CSeq");
            return cseq == null ? "" : cseq.trim().substring(cseq.trim().indexOf(' ') + 1).trim();
        }

        int status() {
            return isRequest() ? 0 : Integer.parseInt(startLine.split(" ", 3)[1]);
        }

        String reason() {
            String[] parts = startLine.split(" ", 3);
            return isRequest() || parts.length < 3 ? "" : parts[2];
        }

        /** The first value of header {@code name} (case-insensitive, compact forms too), or null. */
        String header(String name) {
            List<String> all = headers(name);
            return all.isEmpty() ? null : all.get(0);
        }

        /** Every value of header {@code name}, in order. */
        List<String> headers(String name) {
            String wanted = canonical(name);
            List<String> found = new ArrayList<>();
            for (String[] header : headers) {
                if (canonical(header[0]).equals(wanted)) {
                    found.add(header[1]);
                }
            }
            return found;
        }

        Map<String, Object> summary() {
            return isRequest()
                    ? Json.obj("method", method(), "uri", startLine.split(" ", 3)[1])
                    : Json.obj("method", method(), "status", status(), "reason", reason());
        }
    }

    /**
     * The next message on {@code in}; null when the stream ends before a message starts.
     * Keep-alive CRLFs between messages (RFC 5626 §4.4.1) are skipped.
     *
     * @throws EOFException the stream ended inside a message
     * @throws ProtocolException the message cannot be framed
     */
    static Message read(InputStream in) throws IOException {
        int c;
        do {
            c = in.read();
        } while (c == '\r' || c == '\n');
        if (c < 0) {
            return null;
        }
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        head.write(c);
        int matched = 0; // how much of CRLF CRLF has been seen
        while (matched < 4) {
            c = in.read();
            if (c < 0) {
                throw new EOFException("the peer closed the connection in the middle of a SIP message");
            }
            head.write(c);
            matched = c == (matched % 2 == 0 ? '\r' : '\n') ? matched + 1 : (c == '\r' ? 1 : 0);
            if (head.size() > MAX_HEADER_BYTES) {
                throw new ProtocolException("SIP header block longer than " + MAX_HEADER_BYTES + " bytes");
            }
        }
        String[] lines = head.toString(StandardCharsets.UTF_8).split("\r\n");
        String startLine = lines[0];
        if (!startLine.matches("SIP/2\\.0 \\d{3}( .*)?|[A-Za-z]+ \\S+ SIP/2\\.0")) {
            throw new ProtocolException("not a SIP start line: " + startLine);
        }
        List<String[]> headers = new ArrayList<>();
        for (int i = 1; i < lines.length; i++) {
            String line = lines[i];
            if (line.isEmpty()) {
                continue;
            }
            if ((line.charAt(0) == ' ' || line.charAt(0) == '\t') && !headers.isEmpty()) {
                String[] last = headers.get(headers.size() - 1); // folded line (RFC 3261 §7.3.1)
                last[1] = last[1] + " " + line.trim();
                continue;
            }
            int colon = line.indexOf(':');
            if (colon <= 0) {
                throw new ProtocolException("malformed SIP header line: " + line);
            }
            headers.add(new String[] {line.substring(0, colon).trim(), line.substring(colon + 1).trim()});
        }
        Message withoutBody = new Message(startLine, headers, new byte[0]);
        String length = withoutBody.header("Content-Length");
        int size;
        try {
            size = length == null ? 0 : Integer.parseInt(length.trim());
        } catch (NumberFormatException e) {
            throw new ProtocolException("bad Content-Length: " + length);
        }
        if (size < 0) {
            throw new ProtocolException("bad Content-Length: " + length);
        }
        byte[] body = in.readNBytes(size);
        if (body.length < size) {
            throw new EOFException("the peer closed the connection in the middle of a SIP message body");
        }
        return new Message(startLine, headers, body);
    }

    /**
     * A request: the start line, the headers given (name, value), then Content-Length.
     * The caller gives Via, Max-Forwards, From, To, Call-ID, CSeq and the rest.
     */
    static byte[] request(String method, String uri, List<String[]> headers) {
        return serialize(method + " " + uri + " SIP/2.0", headers);
    }

    /**
     * The answer to {@code request} (RFC 3261 §8.2.6.2): its Via headers, From, Call-ID and
     * CSeq mirrored, its To with {@code toTag} added when it has no tag, then {@code extra}.
     */
    static byte[] response(Message request, int status, String reason, String toTag, List<String[]> extra) {
        List<String[]> headers = new ArrayList<>();
        for (String via : request.headers("Via")) {
            headers.add(new String[] {"Via", via});
        }
        String to = request.header("To");
        if (to != null && !to.toLowerCase(Locale.ROOT).matches(".*;\\s*tag=.*")) {
            to = to + ";tag=" + toTag;
        }
        headers.add(new String[] {"From", request.header("From")});
        headers.add(new String[] {"To", to});
        headers.add(new String[] {"Call-ID", request.header("Call-ID")});
        headers.add(new String[] {"CSeq", request.header("CSeq")});
        headers.addAll(extra);
        return serialize("SIP/2.0 " + status + " " + reason, headers);
    }

    /** {@code bytes} random bytes as lower-case hex: tags, branches, Call-IDs, crand. */
    static String token(int bytes) {
        byte[] random = new byte[bytes];
        RANDOM.nextBytes(random);
        return HexFormat.of().formatHex(random);
    }

    private static byte[] serialize(String startLine, List<String[]> headers) {
        StringBuilder text = new StringBuilder(startLine).append("\r\n");
        for (String[] header : headers) {
            if (header[1] != null) {
                text.append(header[0]).append(": ").append(header[1]).append("\r\n");
            }
        }
        text.append("Content-Length: 0\r\n\r\n");
        return text.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static String canonical(String name) {
        String lower = name.trim().toLowerCase(Locale.ROOT);
        return COMPACT.getOrDefault(lower, lower);
    }
}
