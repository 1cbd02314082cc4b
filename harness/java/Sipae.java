import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * MS-SIPAE (SIP Authentication Extensions) as a Kerberos client needs it: reading a
 * challenge or an Authentication-Info header, writing the Authorization header, and the
 * signature buffer that the client's {@code response} and the server's {@code rspauth}
 * MICs are computed over.
 */
final class Sipae {

    static final String KERBEROS = "Kerberos";

    private Sipae() {
    }

    /** An authentication header: its scheme ({@code Kerberos}) and parameters (names lower-cased, values unquoted). */
    record AuthHeader(String scheme, Map<String, String> params) {

        String param(String name) {
            return params.get(name);
        }

        /**
         * Parse {@code Kerberos realm="SIP Communications Service", targetname="sip/fe01...", version=4}:
         * comma-separated {@code name=value} pairs, values quoted-strings (backslash escapes) or tokens.
         */
        static AuthHeader parse(String value) {
            String text = value.trim();
            int space = text.indexOf(' ');
            String scheme = space < 0 ? text : text.substring(0, space);
            Map<String, String> params = new LinkedHashMap<>();
            int i = space < 0 ? text.length() : space + 1;
            while (i < text.length()) {
                while (i < text.length() && (text.charAt(i) == ',' || Character.isWhitespace(text.charAt(i)))) {
                    i++;
                }
                int equals = text.indexOf('=', i);
                if (equals < 0) {
                    break;
                }
                String name = text.substring(i, equals).trim().toLowerCase(Locale.ROOT);
                i = equals + 1;
                while (i < text.length() && Character.isWhitespace(text.charAt(i))) {
                    i++;
                }
                StringBuilder param = new StringBuilder();
                if (i < text.length() && text.charAt(i) == '"') {
                    i++;
                    while (i < text.length() && text.charAt(i) != '"') {
                        if (text.charAt(i) == '\\' && i + 1 < text.length()) {
                            i++;
                        }
                        param.append(text.charAt(i++));
                    }
                    i++; // the closing quote
                } else {
                    while (i < text.length() && text.charAt(i) != ',') {
                        param.append(text.charAt(i++));
                    }
                }
                params.put(name, param.toString().trim());
            }
            return new AuthHeader(scheme, params);
        }
    }

    /** The Kerberos challenge among the 401's WWW-Authenticate (or the 407's Proxy-Authenticate) headers, or null. */
    static AuthHeader kerberosChallenge(Sip.Message response) {
        String header = response.status() == 407 ? "Proxy-Authenticate" : "WWW-Authenticate";
        for (String value : response.headers(header)) {
            AuthHeader parsed = AuthHeader.parse(value);
            if (parsed.scheme().equalsIgnoreCase(KERBEROS)) {
                return parsed;
            }
        }
        return null;
    }

    /**
     * The signature buffer of MS-SIPAE protocol version 3 and later: the values below, each
     * in angle brackets, exactly as they appear in the message (case included), an absent
     * value as {@code <>}.
     * <pre>
     *  1 protocol (Kerberos)   2 crand / srand        3 cnum / snum        4 realm
     *  5 targetname            6 Call-ID              7 CSeq number        8 CSeq method
     *  9 From URI             10 From tag            11 To URI            12 To tag
     * 13 P-Asserted-Identity SIP URI                 14 P-Asserted-Identity TEL URI
     * 15 Expires              16 response code (responses only; a request has no 16th value, not even {@code <>})
     * </pre>
     * Sources: [MS-SIPAE] §3.2.5.2 (the client checking the server's signature; the same list
     * as the client signs with, §3.2.4) and [MS-SIP] §3.1.4.2, whose older list (version 2)
     * lacks the To URI and the identities; cross-checked against pidgin-sipe's
     * {@code sipmsg_breakdown_get_string}, which writes exactly these 15 (+1) values. A URI
     * is what is between {@code <} and {@code >} (the part before the first {@code ;} of an
     * addr-spec without brackets); a tag is the {@code tag} parameter after it; the
     * identities come from P-Asserted-Identity, else P-Preferred-Identity (first sip/sips
     * and first tel URI). Lync 2010 and later challenge with version 3 or 4, so only this
     * list is built.
     */
    static String signatureBuffer(String protocol, String rand, String num, String realm, String targetname,
                                  Sip.Message message) {
        StringBuilder buffer = new StringBuilder();
        String cseq = orEmpty(message.header("CSeq")).trim();
        int space = cseq.indexOf(' ');
        String from = orEmpty(message.header("From"));
        String to = orEmpty(message.header("To"));
        String[] identities = identities(message);
        for (String value : new String[] {
                protocol, rand, num, realm, targetname,
                message.header("Call-ID"),
                space < 0 ? cseq : cseq.substring(0, space),
                space < 0 ? "" : cseq.substring(space + 1).trim(),
                uri(from), tag(from), uri(to), tag(to),
                identities[0], identities[1],
                message.header("Expires")}) {
            buffer.append('<').append(orEmpty(value)).append('>');
        }
        if (!message.isRequest()) {
            buffer.append('<').append(message.status()).append('>');
        }
        return buffer.toString();
    }

    /** The {@code Authorization} header value of a Kerberos REGISTER (MS-SIPAE §2.2.2, §3.2.4.1). */
    static String authorization(Map<String, String> params) {
        StringBuilder value = new StringBuilder(KERBEROS);
        String separator = " ";
        for (Map.Entry<String, String> param : params.entrySet()) {
            // version is a token (version=4); everything else is a quoted-string.
            boolean token = param.getKey().equals("version");
            value.append(separator).append(param.getKey()).append('=')
                    .append(token ? param.getValue() : '"' + param.getValue() + '"');
            separator = ", ";
        }
        return value.toString();
    }

    private static String[] identities(Sip.Message message) {
        String header = message.header("P-Asserted-Identity");
        if (header == null) {
            header = message.header("P-Preferred-Identity");
        }
        String sip = null;
        String tel = null;
        if (header != null) {
            for (String identity : header.split(",")) {
                String uri = uri(identity);
                String scheme = uri.toLowerCase(Locale.ROOT);
                if (sip == null && (scheme.startsWith("sip:") || scheme.startsWith("sips:"))) {
                    sip = uri;
                } else if (tel == null && scheme.startsWith("tel:")) {
                    tel = uri;
                }
            }
        }
        return new String[] {sip, tel};
    }

    private static String uri(String nameAddr) {
        int open = nameAddr.indexOf('<');
        int close = nameAddr.indexOf('>', open + 1);
        if (open >= 0 && close > open) {
            return nameAddr.substring(open + 1, close);
        }
        int semicolon = nameAddr.indexOf(';');
        return (semicolon < 0 ? nameAddr : nameAddr.substring(0, semicolon)).trim();
    }

    private static String tag(String nameAddr) {
        int close = nameAddr.indexOf('>');
        String params = close >= 0 ? nameAddr.substring(close + 1) : nameAddr;
        for (String param : params.split(";")) {
            String[] pair = param.trim().split("=", 2);
            if (pair.length == 2 && pair[0].trim().equalsIgnoreCase("tag")) {
                return pair[1].trim();
            }
        }
        return "";
    }

    private static String orEmpty(String value) {
        return value == null ? "" : value;
    }
}
