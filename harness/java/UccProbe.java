import com.sun.security.jgss.ExtendedGSSContext;
import com.sun.security.jgss.InquireType;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ProtocolException;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.PrivilegedActionException;
import java.security.PrivilegedExceptionAction;
import java.security.Security;
import java.security.cert.Certificate;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;
import javax.security.auth.Subject;
import javax.security.auth.callback.Callback;
import javax.security.auth.callback.CallbackHandler;
import javax.security.auth.callback.NameCallback;
import javax.security.auth.callback.PasswordCallback;
import javax.security.auth.callback.UnsupportedCallbackException;
import javax.security.auth.kerberos.EncryptionKey;
import javax.security.auth.kerberos.KerberosPrincipal;
import javax.security.auth.kerberos.KerberosTicket;
import javax.security.auth.login.AppConfigurationEntry;
import javax.security.auth.login.Configuration;
import javax.security.auth.login.LoginContext;
import javax.security.auth.login.LoginException;
import javax.security.auth.x500.X500Principal;
import org.ietf.jgss.GSSContext;
import org.ietf.jgss.GSSException;
import org.ietf.jgss.GSSManager;
import org.ietf.jgss.GSSName;
import org.ietf.jgss.MessageProp;
import org.ietf.jgss.Oid;

/**
 * A probe that behaves like the Genesys UC Connector toward a Lync Front End, on the JDK's
 * own JSSE and JGSS stacks: the real thing the lab's Python stand-in imitates.
 *
 * <p>It takes the connector's Command Line Arguments as the page writes them
 * ({@link ConnectorArguments}) and maps them onto JSSE as a plain Java server does, through
 * the {@code javax.net.ssl.*} system properties and {@code SSLContext.getDefault()}:
 * <ul>
 *   <li>MTLS ({@code register}, {@code listen}): key store = {@code -cert_store_file/pass/type}
 *       (the PFX), trust store = {@code -key_store_file/pass/type} (the JKS);</li>
 *   <li>TLS/Kerberos ({@code login}): trust store = {@code -cert_store_file/pass/type}, no key
 *       store; {@code -krb_conf_file} becomes {@code java.security.krb5.conf}.</li>
 * </ul>
 * An option not given leaves its property unset, so JSSE's own defaults apply: no trust
 * store means {@code jssecacerts}, then {@code cacerts}, of the JDK that runs the probe; no
 * store type means {@code KeyStore.getDefaultType()} (pkcs12). With {@code --files DIR} every
 * path of the command line stands for {@code DIR/<file name>}.
 *
 * <p>Endpoint identification is a setting ({@code --endpoint-identification HTTPS|none},
 * default none): with {@code HTTPS} the Front End's certificate must name the Front End
 * FQDN; with none the socket checks no name, as a plain {@code SSLSocket} does (no Genesys
 * source says the connector sets it; the lab assumes it does not). The JDK's
 * {@code java.security} policy (disabled algorithms, TLS versions) is the JVM's own: the
 * caller changes it with {@code -Djava.security.properties=FILE}; every report shows the
 * two disabled-algorithm properties in force under {@code java_security}.
 *
 * <p>A report holds {@code command}; {@code outcome}: "confirmed" (every request answered
 * 2xx; for {@code login} also the Front End's rspauth verified), "rejected" (a final non-2xx,
 * a refused connection to the Secured port) or "error"; {@code arguments} (what Java read),
 * {@code files} (where each path points), {@code jsse} (the properties set, passwords
 * masked), {@code error} (null, or {@code phase}, {@code exception}, {@code message},
 * {@code causes} outermost first) and {@code timings_ms} (milliseconds since {@code main}
 * started, at the end of each phase), {@code java_security}. {@code register} and {@code login} add {@code tls} and
 * {@code responses}; {@code listen} adds {@code port} and {@code connections}; {@code login}
 * adds {@code kerberos}, {@code challenge}, {@code authentication_info} and
 * {@code rspauth_verified}.
 *
 * <p>Every command prints one JSON line on stdout with what happened, or Java's exception
 * class and message, and exits 0; {@code listen} first prints {@code {"listening": PORT}}
 * when it accepts connections. Bad usage prints {@code {"usage_error": ...}} and exits 2;
 * a defect of the probe itself prints its exception (phase {@code probe}) and exits 1.
 * <pre>
 * UccProbe register --frontend HOST:PORT --frontend-fqdn FQDN --ucc-fqdn FQDN --args ARGS [--files DIR] [--timeout S]
 * UccProbe listen   --port N --ucc-fqdn FQDN --args ARGS [--files DIR] [--timeout S] [--count K]
 * UccProbe login    --frontend HOST:PORT --frontend-fqdn FQDN --ucc-fqdn FQDN --args ARGS [--files DIR]
 *                   --principal NAME --password PW [--realm REALM] [--timeout S]
 * UccProbe arguments --args ARGS [--files DIR]
 * UccProbe security
 * </pre>
 * {@code register} and {@code login} also take {@code --endpoint-identification HTTPS|none}.
 * {@code security} reports {@code java_version}, {@code java_security} and the TLS versions a
 * default {@code SSLContext} enables as client and as server ({@code protocols}).
 */
public final class UccProbe {

    static final String USAGE = "UccProbe register|listen|login|arguments|security --option value ... (see the source's header)";
    /** The java.security properties the reports show: what decides the certificates and versions JSSE refuses. */
    static final List<String> SECURITY_PROPERTIES = List.of("jdk.certpath.disabledAlgorithms", "jdk.tls.disabledAlgorithms");
    static final String USER_AGENT = "UCConnector probe (ucc-lab; Java " + Runtime.version() + ")";
    static final int REGISTER_EXPIRES = 3600;
    /** What the Secured port answers 200 to: a trusted application's presence traffic. */
    static final Set<String> SERVED_METHODS = Set.of("OPTIONS", "SUBSCRIBE", "NOTIFY");
    static final Oid KRB5_MECHANISM = oid("1.2.840.113554.1.2.2");

    private static final Map<String, String> EKU_NAMES = Map.of(
            "1.3.6.1.5.5.7.3.1", "serverAuth", "1.3.6.1.5.5.7.3.2", "clientAuth",
            "1.3.6.1.5.5.7.3.3", "codeSigning", "1.3.6.1.5.5.7.3.4", "emailProtection",
            "1.3.6.1.5.5.7.3.8", "timeStamping", "1.3.6.1.5.5.7.3.9", "OCSPSigning",
            "2.5.29.37.0", "anyExtendedKeyUsage", "1.3.6.1.4.1.311.10.3.4", "encryptedFileSystem");
    private static final Map<Integer, String> ENCTYPE_NAMES = Map.of(
            1, "des-cbc-crc", 3, "des-cbc-md5", 16, "des3-cbc-sha1", 17, "aes128-cts-hmac-sha1-96",
            18, "aes256-cts-hmac-sha1-96", 19, "aes128-cts-hmac-sha256-128", 20, "aes256-cts-hmac-sha384-192",
            23, "rc4-hmac");
    private static final DateTimeFormatter ISO_UTC = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss'+00:00'");

    private final long started = System.nanoTime();
    private final Map<String, Object> timings = new LinkedHashMap<>();

    private UccProbe() {
    }

    public static void main(String[] argv) {
        UccProbe probe = new UccProbe();
        int status = 0;
        Map<String, Object> report;
        try {
            report = probe.run(ProbeOptions.parse(argv));
        } catch (UsageException e) {
            report = Json.obj("usage_error", e.getMessage(), "usage", USAGE);
            status = 2;
        } catch (Exception | LinkageError e) {
            report = Json.obj("command", argv.length > 0 ? argv[0] : null, "outcome", "error",
                    "error", error("probe", e));
            status = 1;
        }
        System.out.println(Json.write(report));
        System.out.flush();
        System.exit(status); // also ends any thread a JDK component left behind
    }

    private Map<String, Object> run(ProbeOptions options) throws UsageException {
        options.check();
        return switch (options.command()) {
            case "register" -> register(options);
            case "listen" -> listen(options);
            case "login" -> login(options);
            case "security" -> security();
            default -> arguments(options);
        };
    }

    // -- the connector's configuration -----------------------------------------------------

    /** What the command line says, where its files are, and the JSSE settings it becomes. */
    private record Setup(ConnectorArguments arguments, ConnectorArguments.HostFiles files,
                         Map<String, String> properties) {

        static Setup mtls(ProbeOptions options) throws UsageException {
            ConnectorArguments arguments = ConnectorArguments.parse(options.required("--args"));
            ConnectorArguments.HostFiles files = options.files();
            Map<String, String> properties = new LinkedHashMap<>();
            putPath(properties, "javax.net.ssl.keyStore", arguments.get(ConnectorArguments.CERT_STORE_FILE), files);
            putValue(properties, "javax.net.ssl.keyStorePassword", arguments.get(ConnectorArguments.CERT_STORE_PASS));
            putValue(properties, "javax.net.ssl.keyStoreType", arguments.get(ConnectorArguments.CERT_STORE_TYPE));
            putPath(properties, "javax.net.ssl.trustStore", arguments.get(ConnectorArguments.KEY_STORE_FILE), files);
            putValue(properties, "javax.net.ssl.trustStorePassword", arguments.get(ConnectorArguments.KEY_STORE_PASS));
            putValue(properties, "javax.net.ssl.trustStoreType", arguments.get(ConnectorArguments.KEY_STORE_TYPE));
            return new Setup(arguments, files, properties);
        }

        static Setup tlsKerberos(ProbeOptions options) throws UsageException {
            ConnectorArguments arguments = ConnectorArguments.parse(options.required("--args"));
            ConnectorArguments.HostFiles files = options.files();
            Map<String, String> properties = new LinkedHashMap<>();
            putPath(properties, "javax.net.ssl.trustStore", arguments.get(ConnectorArguments.CERT_STORE_FILE), files);
            putValue(properties, "javax.net.ssl.trustStorePassword", arguments.get(ConnectorArguments.CERT_STORE_PASS));
            putValue(properties, "javax.net.ssl.trustStoreType", arguments.get(ConnectorArguments.CERT_STORE_TYPE));
            // Without -krb_conf_file the JDK would read this machine's own krb5.conf; the
            // connector's host has none beside the page's (the JDK on Windows looks for
            // C:\\Windows\\krb5.ini, assumed absent), so point it at that, on the host.
            String krb5 = arguments.get(ConnectorArguments.KRB_CONF_FILE);
            putPath(properties, "java.security.krb5.conf", krb5 != null ? krb5 : "C:\\Windows\\krb5.ini", files);
            return new Setup(arguments, files, properties);
        }

        private static void putPath(Map<String, String> properties, String name, String path,
                                    ConnectorArguments.HostFiles files) {
            if (path != null) {
                properties.put(name, files.local(path).toString());
            }
        }

        private static void putValue(Map<String, String> properties, String name, String value) {
            if (value != null) {
                properties.put(name, value);
            }
        }

        /** Set the system properties: from here on JSSE and JGSS see the connector's configuration. */
        void apply() {
            properties.forEach(System::setProperty);
        }

        /** The report's opening: arguments, files, JSSE settings (passwords masked). */
        Map<String, Object> describe(String command) {
            List<Object> described = new ArrayList<>();
            for (String option : List.of(ConnectorArguments.CERT_STORE_FILE, ConnectorArguments.KEY_STORE_FILE,
                    ConnectorArguments.KRB_CONF_FILE)) {
                String path = arguments.get(option);
                if (path != null) {
                    described.add(files.describe(option, path));
                }
            }
            Map<String, Object> shown = new LinkedHashMap<>();
            properties.forEach((name, value) -> shown.put(name, name.endsWith("Password") ? ConnectorArguments.MASK : value));
            return Json.obj("command", command, "outcome", null, "arguments", arguments.toJson(),
                    "files", described, "jsse", shown, "java_security", javaSecurity());
        }
    }

    /** The java.security properties in force (after any -Djava.security.properties file). */
    static Map<String, Object> javaSecurity() {
        Map<String, Object> properties = new LinkedHashMap<>();
        for (String name : SECURITY_PROPERTIES) {
            properties.put(name, Security.getProperty(name));
        }
        return properties;
    }

    /** The policy in force and the TLS versions a default SSLContext enables on each side; no connection. */
    private Map<String, Object> security() {
        Map<String, Object> report = Json.obj("command", "security", "java_version", Runtime.version().toString(),
                "java_security", javaSecurity());
        try {
            SSLContext context = SSLContext.getDefault();
            try (SSLSocket client = (SSLSocket) context.getSocketFactory().createSocket();
                 SSLServerSocket server = (SSLServerSocket) context.getServerSocketFactory().createServerSocket()) {
                report.put("protocols", Json.obj("client", List.of(client.getEnabledProtocols()),
                        "server", List.of(server.getEnabledProtocols())));
            }
        } catch (Exception e) {
            return failed(report, "setup", e);
        }
        return finish(report, null);
    }

    /** What Java makes of the command line, and the JSSE settings of both paths; no connection. */
    private Map<String, Object> arguments(ProbeOptions options) throws UsageException {
        Map<String, Object> mtls = Setup.mtls(options).describe("arguments");
        Map<String, Object> tls = Setup.tlsKerberos(options).describe("arguments");
        return Json.obj("command", "arguments", "arguments", mtls.get("arguments"), "files", mtls.get("files"),
                "jsse", Json.obj("mtls", mtls.get("jsse"), "tls-kerberos", tls.get("jsse")));
    }

    // -- connector -> Front End over MTLS ----------------------------------------------------

    private Map<String, Object> register(ProbeOptions options) throws UsageException {
        Setup setup = Setup.mtls(options);
        Map<String, Object> report = setup.describe("register");
        InetSocketAddress frontend = options.address("--frontend");
        String frontendFqdn = options.required("--frontend-fqdn");
        String uccFqdn = options.required("--ucc-fqdn");
        int timeout = options.timeoutMillis();
        String endpointIdentification = options.endpointIdentification();
        setup.apply();
        SSLContext context;
        try {
            context = SSLContext.getDefault();
        } catch (Exception e) {
            return failed(report, "setup", e);
        }
        mark("setup");
        List<Object> responses = new ArrayList<>();
        report.put("responses", responses);
        String phase = "connect";
        try (SSLSocket socket = connect(context, frontend, frontendFqdn, timeout, endpointIdentification)) {
            phase = "handshake";
            socket.startHandshake();
            report.put("tls", describeSession(socket.getSession()));
            mark("handshake");
            // Under TLS 1.3 the client's handshake ends before the server has judged the
            // client certificate: a refusal arrives as an alert on the first read below.
            phase = "sip";
            SipDialog dialog = new SipDialog(socket, uccFqdn, frontendFqdn);
            for (String method : List.of("OPTIONS", "REGISTER")) {
                Sip.Message response = dialog.send(method, List.of());
                responses.add(response.summary());
                if (response.status() >= 300) {
                    mark("sip");
                    return finish(report, "rejected");
                }
            }
            mark("sip");
            return finish(report, "confirmed");
        } catch (IOException e) {
            return failed(report, phase, e);
        }
    }

    /**
     * TCP to {@code address}, then TLS as to {@code fqdn}: the name sent as SNI, as when the
     * connector dials the Front End by name, and the name the certificate must carry when
     * {@code endpointIdentification} is set ("HTTPS"; null: no name check).
     */
    private static SSLSocket connect(SSLContext context, InetSocketAddress address, String fqdn, int timeout,
                                     String endpointIdentification) throws IOException {
        Socket plain = new Socket();
        try {
            plain.connect(address, timeout);
            plain.setSoTimeout(timeout);
            SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket(plain, fqdn, address.getPort(), true);
            if (endpointIdentification != null) {
                SSLParameters parameters = socket.getSSLParameters();
                parameters.setEndpointIdentificationAlgorithm(endpointIdentification);
                socket.setSSLParameters(parameters);
            }
            return socket;
        } catch (IOException e) {
            plain.close();
            throw e;
        }
    }

    /** One SIP dialog of the connector with the Front End: requests on one connection, shared Call-ID and From tag. */
    private static final class SipDialog {
        private final InputStream in;
        private final OutputStream out;
        private final String uccFqdn;
        private final String frontendFqdn;
        private final int localPort;
        private final String callId;
        private final String fromTag = Sip.token(4);
        private int cseq;

        SipDialog(SSLSocket socket, String uccFqdn, String frontendFqdn) throws IOException {
            this.in = new BufferedInputStream(socket.getInputStream());
            this.out = socket.getOutputStream();
            this.uccFqdn = uccFqdn;
            this.frontendFqdn = frontendFqdn;
            this.localPort = socket.getLocalPort();
            this.callId = Sip.token(8) + "@" + uccFqdn;
        }

        /** The request {@code method} as a message, with {@code extra} headers before Content-Length. */
        Sip.Message build(String method, List<String[]> extra) {
            String me = "sip:" + uccFqdn;
            List<String[]> headers = new ArrayList<>(List.of(
                    new String[] {"Via", "SIP/2.0/TLS " + uccFqdn + ":" + localPort + ";branch=z9hG4bK" + Sip.token(6)},
                    new String[] {"Max-Forwards", "70"},
                    new String[] {"From", "<" + me + ">;tag=" + fromTag},
                    new String[] {"To", "<" + (method.equals("REGISTER") ? me : "sip:" + frontendFqdn) + ">"},
                    new String[] {"Call-ID", callId},
                    new String[] {"CSeq", ++cseq + " " + method},
                    new String[] {"Contact", "<sip:" + uccFqdn + ":" + localPort + ";transport=tls>"},
                    new String[] {"User-Agent", USER_AGENT}));
            if (method.equals("REGISTER")) {
                headers.add(new String[] {"Expires", Integer.toString(REGISTER_EXPIRES)});
            }
            headers.addAll(extra);
            return new Sip.Message(method + " sip:" + frontendFqdn + " SIP/2.0", headers, new byte[0]);
        }

        /** Send {@code request} and read its final response (provisional ones skipped). */
        Sip.Message exchange(Sip.Message request) throws IOException {
            String[] startLine = request.startLine().split(" ");
            out.write(Sip.request(startLine[0], startLine[1], request.headers()));
            out.flush();
            while (true) {
                Sip.Message message = Sip.read(in);
                if (message == null) {
                    // Under TLS 1.3 this is also how a refused client certificate can look from here.
                    throw new EOFException("the Front End closed the connection without answering " + request.method());
                }
                if (!message.isRequest() && message.status() >= 200) {
                    return message;
                }
            }
        }

        Sip.Message send(String method, List<String[]> extra) throws IOException {
            return exchange(build(method, extra));
        }
    }

    // -- Front End -> connector: the Secured SIP port ----------------------------------------

    private Map<String, Object> listen(ProbeOptions options) throws UsageException {
        Setup setup = Setup.mtls(options);
        Map<String, Object> report = setup.describe("listen");
        int port = options.integer("--port", null);
        String uccFqdn = options.required("--ucc-fqdn");
        int count = options.integer("--count", 1);
        long deadline = System.nanoTime() + options.timeoutMillis() * 1_000_000L;
        setup.apply();
        SSLContext context;
        try {
            context = SSLContext.getDefault();
        } catch (Exception e) {
            return failed(report, "setup", e);
        }
        List<Object> connections = new ArrayList<>();
        report.put("connections", connections);
        String phase = "listen";
        boolean allServed = true;
        // Loopback unless told: a lab in containers reaches this machine at its network's gateway.
        String bind = options.optional("--bind");
        InetAddress address;
        try {
            address = bind == null ? InetAddress.getLoopbackAddress() : InetAddress.getByName(bind);
        } catch (Exception e) {
            return failed(report, "setup", e);
        }
        try (SSLServerSocket server = (SSLServerSocket) context.getServerSocketFactory()
                .createServerSocket(port, 50, address)) {
            server.setNeedClientAuth(true);
            report.put("port", server.getLocalPort());
            mark("setup");
            System.out.println(Json.write(Json.obj("listening", server.getLocalPort())));
            System.out.flush();
            phase = "accept";
            while (connections.size() < count) {
                server.setSoTimeout(remaining(deadline));
                try (SSLSocket socket = (SSLSocket) server.accept()) {
                    Map<String, Object> connection = serve(socket, uccFqdn, deadline);
                    connections.add(connection);
                    allServed &= connection.get("error") == null && !((List<?>) connection.get("requests")).isEmpty();
                }
            }
        } catch (IOException e) {
            // listen: the port could not be bound; accept: fewer connections than --count in time.
            return failed(report, phase, e);
        }
        mark("served");
        return finish(report, allServed ? "confirmed" : "rejected");
    }

    /** One connection to the Secured port: the TLS handshake with client authentication, then SIP answers. */
    private static Map<String, Object> serve(SSLSocket socket, String uccFqdn, long deadline) {
        List<Object> requests = new ArrayList<>();
        Map<String, Object> connection = Json.obj(
                "peer", socket.getInetAddress().getHostAddress() + ":" + socket.getPort(),
                "tls", null, "requests", requests, "end", null, "error", null);
        String phase = "handshake";
        try {
            socket.setSoTimeout(remaining(deadline));
            socket.startHandshake();
            connection.put("tls", describeSession(socket.getSession()));
            phase = "sip";
            InputStream in = new BufferedInputStream(socket.getInputStream());
            OutputStream out = socket.getOutputStream();
            while (true) {
                socket.setSoTimeout(remaining(deadline));
                Sip.Message message = Sip.read(in);
                if (message == null) {
                    connection.put("end", "peer closed");
                    return connection;
                }
                if (!message.isRequest() || message.method().equals("ACK")) {
                    continue; // never answered (RFC 3261 §17.2.1)
                }
                String method = message.method();
                int status = SERVED_METHODS.contains(method) ? 200 : 501;
                List<String[]> extra = new ArrayList<>();
                if (method.equals("OPTIONS")) {
                    extra.add(new String[] {"Allow", "ACK, OPTIONS, SUBSCRIBE, NOTIFY"});
                } else if (method.equals("SUBSCRIBE")) {
                    extra.add(new String[] {"Contact", "<sip:" + uccFqdn + ":" + socket.getLocalPort() + ";transport=tls>"});
                    String expires = message.header("Expires");
                    extra.add(new String[] {"Expires", expires != null ? expires : Integer.toString(REGISTER_EXPIRES)});
                }
                out.write(Sip.response(message, status, status == 200 ? "OK" : "Not Implemented", Sip.token(4), extra));
                out.flush();
                requests.add(Json.obj("method", method, "status", status));
            }
        } catch (SocketTimeoutException e) {
            if (phase.equals("handshake")) {
                connection.put("error", error(phase, e));
            } else {
                connection.put("end", "timeout");
            }
        } catch (IOException e) {
            connection.put("error", error(phase, e));
        }
        return connection;
    }

    // -- TLS/Kerberos: MS-SIPAE login ----------------------------------------------------------

    private Map<String, Object> login(ProbeOptions options) throws UsageException {
        Setup setup = Setup.tlsKerberos(options);
        Map<String, Object> report = setup.describe("login");
        InetSocketAddress frontend = options.address("--frontend");
        String frontendFqdn = options.required("--frontend-fqdn");
        String uccFqdn = options.required("--ucc-fqdn");
        String principal = options.required("--principal");
        String password = options.required("--password");
        String realm = options.optional("--realm");
        int timeout = options.timeoutMillis();
        String endpointIdentification = options.endpointIdentification();
        if (realm != null && !principal.contains("@")) {
            principal = principal + "@" + realm;
        }
        setup.apply();
        Map<String, Object> kerberos = Json.obj("principal", principal, "tgt", null);
        report.put("kerberos", kerberos);

        // 1. The connector's own login (its TGT), as at start-up.
        Subject subject;
        try {
            LoginContext login = new LoginContext("UCConnector", new Subject(), passwordHandler(principal, password),
                    new Krb5LoginConfiguration());
            login.login();
            subject = login.getSubject();
        } catch (LoginException e) {
            return failed(report, "login", e);
        }
        mark("login");
        subject.getPrincipals(KerberosPrincipal.class).stream().findFirst()
                .ifPresent(p -> kerberos.put("principal", p.getName()));
        kerberos.put("tgt", describeTicket(subject, true));

        // 2. TLS to the Front End, server authentication only.
        SSLContext context;
        try {
            context = SSLContext.getDefault();
        } catch (Exception e) {
            return failed(report, "setup", e);
        }
        List<Object> responses = new ArrayList<>();
        report.put("responses", responses);
        String phase = "connect";
        try (SSLSocket socket = connect(context, frontend, frontendFqdn, timeout, endpointIdentification)) {
            phase = "handshake";
            socket.startHandshake();
            report.put("tls", describeSession(socket.getSession()));
            mark("handshake");

            // 3. REGISTER without credentials: the challenge names realm and targetname.
            phase = "sip";
            SipDialog dialog = new SipDialog(socket, uccFqdn, frontendFqdn);
            Sip.Message answer = dialog.send("REGISTER", List.of());
            responses.add(answer.summary());
            Sipae.AuthHeader challenge = Sipae.kerberosChallenge(answer);
            if (challenge == null) {
                throw new ProtocolException("the Front End answered REGISTER with " + answer.status() + " "
                        + answer.reason() + " and no Kerberos challenge");
            }
            report.put("challenge", Json.obj("status", answer.status(), "realm", challenge.param("realm"),
                    "targetname", challenge.param("targetname"), "version", challenge.param("version")));

            // 4. The AP-REQ for the challenge's targetname (sip/<Front End FQDN>).
            phase = "gss";
            GSSContext gss = securityContext(subject, challenge.param("targetname"));
            byte[] token = Subject.doAs(subject, (PrivilegedExceptionAction<byte[]>) () -> gss.initSecContext(new byte[0], 0, 0));
            mark("gss");
            kerberos.put("target", gss.getTargName().toString());
            kerberos.put("service_ticket", describeTicket(subject, false));
            kerberos.put("context_key_enctype", contextKeyType(gss));

            // 5. REGISTER with the token, signed (version 4 signs the request that carries it).
            phase = "sip";
            Sip.Message register = signedRegister(dialog, gss, challenge, answer.status(), token);
            Sip.Message result = dialog.exchange(register);
            responses.add(result.summary());
            mark("sip");
            if (result.status() != 200) {
                Sipae.AuthHeader again = Sipae.kerberosChallenge(result);
                if (again != null) {
                    report.put("rechallenge", again.params());
                }
                return finish(report, "rejected");
            }

            // 6. The Front End's signature over its 200 (rspauth), MS-SIPAE §3.2.5.2.
            phase = "rspauth";
            report.put("rspauth_verified", false);
            String infoHeader = answer.status() == 407 ? "Proxy-Authentication-Info" : "Authentication-Info";
            String info = result.header(infoHeader);
            if (info == null) {
                throw new ProtocolException("the 200 to REGISTER has no " + infoHeader + " header");
            }
            Sipae.AuthHeader authInfo = Sipae.AuthHeader.parse(info);
            report.put("authentication_info", authInfo.params());
            byte[] data = Sipae.signatureBuffer(authInfo.scheme(), authInfo.param("srand"), authInfo.param("snum"),
                    authInfo.param("realm"), authInfo.param("targetname"), result).getBytes(StandardCharsets.UTF_8);
            byte[] mic = HexFormat.of().parseHex(authInfo.params().getOrDefault("rspauth", ""));
            gss.verifyMIC(mic, 0, mic.length, data, 0, data.length, new MessageProp(0, false));
            report.put("rspauth_verified", true);
            mark("rspauth");
            return finish(report, "confirmed");
        } catch (PrivilegedActionException e) {
            return failed(report, phase, e.getException());
        } catch (IOException | GSSException | IllegalArgumentException e) {
            return failed(report, phase, e);
        }
    }

    /** A krb5 security context toward {@code targetname} ({@code sip/fe01...} becomes the host-based {@code sip@fe01...}). */
    private static GSSContext securityContext(Subject subject, String targetname) throws PrivilegedActionException {
        return Subject.doAs(subject, (PrivilegedExceptionAction<GSSContext>) () -> {
            GSSManager manager = GSSManager.getInstance();
            int slash = targetname == null ? -1 : targetname.indexOf('/');
            GSSName target = slash > 0
                    ? manager.createName(targetname.substring(0, slash) + "@" + targetname.substring(slash + 1),
                            GSSName.NT_HOSTBASED_SERVICE)
                    : manager.createName(String.valueOf(targetname), GSSName.NT_USER_NAME);
            GSSContext context = manager.createContext(target, KRB5_MECHANISM, null, GSSContext.DEFAULT_LIFETIME);
            // MS-SIPAE clients ask for integrity only: no mutual authentication, so no AP-REP.
            context.requestMutualAuth(false);
            context.requestInteg(true);
            context.requestConf(false);
            context.requestReplayDet(false);
            context.requestSequenceDet(false);
            context.requestCredDeleg(false);
            return context;
        });
    }

    /**
     * The REGISTER that answers {@code challenge}: Authorization (Proxy-Authorization after a
     * 407) with qop, realm, targetname, gssapi-data and version, and for version 4 and later
     * crand, cnum and the MIC over the request's signature buffer as {@code response}.
     */
    private static Sip.Message signedRegister(SipDialog dialog, GSSContext gss, Sipae.AuthHeader challenge,
                                              int challengeStatus, byte[] token) throws GSSException {
        String header = challengeStatus == 407 ? "Proxy-Authorization" : "Authorization";
        Map<String, String> params = new LinkedHashMap<>();
        params.put("qop", "auth");
        params.put("realm", challenge.param("realm"));
        params.put("targetname", challenge.param("targetname"));
        params.put("gssapi-data", Base64.getEncoder().encodeToString(token));
        String version = challenge.param("version");
        if (version != null) {
            params.put("version", version);
        }
        Sip.Message unsigned = dialog.build("REGISTER", List.of());
        int versionNumber;
        try {
            versionNumber = version == null ? 0 : Integer.parseInt(version.trim());
        } catch (NumberFormatException e) {
            versionNumber = 0;
        }
        if (versionNumber >= 4) {
            String crand = Sip.token(4);
            String cnum = "1";
            byte[] data = Sipae.signatureBuffer(Sipae.KERBEROS, crand, cnum, challenge.param("realm"),
                    challenge.param("targetname"), unsigned).getBytes(StandardCharsets.UTF_8);
            byte[] mic = gss.getMIC(data, 0, data.length, new MessageProp(0, false));
            params.put("crand", crand);
            params.put("cnum", cnum);
            params.put("response", HexFormat.of().formatHex(mic));
        }
        List<String[]> headers = new ArrayList<>(unsigned.headers());
        headers.add(new String[] {header, Sipae.authorization(params)});
        return new Sip.Message(unsigned.startLine(), headers, new byte[0]);
    }

    /** JAAS configured in code, as an application embedding Kerberos does: Krb5LoginModule, password from the handler. */
    private static final class Krb5LoginConfiguration extends Configuration {
        @Override
        public AppConfigurationEntry[] getAppConfigurationEntry(String name) {
            return new AppConfigurationEntry[] {new AppConfigurationEntry(
                    "com.sun.security.auth.module.Krb5LoginModule",
                    AppConfigurationEntry.LoginModuleControlFlag.REQUIRED,
                    Map.of("useTicketCache", "false", "doNotPrompt", "false", "storeKey", "false"))};
        }
    }

    private static CallbackHandler passwordHandler(String principal, String password) {
        return (Callback[] callbacks) -> {
            for (Callback callback : callbacks) {
                if (callback instanceof NameCallback name) {
                    name.setName(principal);
                } else if (callback instanceof PasswordCallback secret) {
                    secret.setPassword(password.toCharArray());
                } else {
                    throw new UnsupportedCallbackException(callback);
                }
            }
        };
    }

    /** The Subject's TGT ({@code tgt}) or first service ticket, or null. */
    private static Map<String, Object> describeTicket(Subject subject, boolean tgt) {
        for (KerberosTicket ticket : subject.getPrivateCredentials(KerberosTicket.class)) {
            boolean isTgt = ticket.getServer().getName().startsWith("krbtgt/");
            if (isTgt == tgt) {
                int type = ticket.getSessionKeyType();
                return Json.obj("client", ticket.getClient().getName(), "server", ticket.getServer().getName(),
                        "session_key_enctype", type, "session_key_enctype_name", ENCTYPE_NAMES.get(type),
                        "end_time", ISO_UTC.format(ticket.getEndTime().toInstant().atOffset(ZoneOffset.UTC)));
            }
        }
        return null;
    }

    /** The enctype of the key the context signs with (the initiator's subkey), or null if JGSS does not say. */
    private static Object contextKeyType(GSSContext context) {
        if (context instanceof ExtendedGSSContext extended) {
            try {
                Object key = extended.inquireSecContext(InquireType.KRB5_GET_SESSION_KEY_EX);
                if (key instanceof EncryptionKey encryptionKey) {
                    return encryptionKey.getKeyType();
                }
            } catch (GSSException e) {
                return null;
            }
        }
        return null;
    }

    // -- reporting ---------------------------------------------------------------------------

    /** Version, cipher suite, the peer's certificate and chain, and the certificate this side presented (null: none). */
    private static Map<String, Object> describeSession(SSLSession session) {
        List<Object> chain = new ArrayList<>();
        Map<String, Object> peer = null;
        try {
            Certificate[] certificates = session.getPeerCertificates();
            for (Certificate certificate : certificates) {
                chain.add(((X509Certificate) certificate).getSubjectX500Principal().getName(X500Principal.RFC2253));
            }
            peer = describeCertificate((X509Certificate) certificates[0]);
        } catch (SSLPeerUnverifiedException e) {
            // The peer sent no certificate: peer stays null.
        }
        Certificate[] local = session.getLocalCertificates();
        return Json.obj("version", session.getProtocol(), "cipher", session.getCipherSuite(),
                "peer_certificate", peer, "peer_chain", chain,
                "local_certificate", local == null ? null : describeCertificate((X509Certificate) local[0]));
    }

    /** The same facts the Python stand-in reports: subject, DNS SANs, issuer, serial, validity, EKU (null: none). */
    static Map<String, Object> describeCertificate(X509Certificate certificate) {
        List<Object> sans = new ArrayList<>();
        List<Object> eku = null;
        try {
            if (certificate.getSubjectAlternativeNames() != null) {
                for (List<?> name : certificate.getSubjectAlternativeNames()) {
                    if (Integer.valueOf(2).equals(name.get(0))) {
                        sans.add(name.get(1));
                    }
                }
            }
            if (certificate.getExtendedKeyUsage() != null) {
                eku = new ArrayList<>();
                for (String oid : certificate.getExtendedKeyUsage()) {
                    eku.add(EKU_NAMES.getOrDefault(oid, oid));
                }
            }
        } catch (CertificateParsingException e) {
            eku = List.of("unparseable: " + e.getMessage());
        }
        return Json.obj(
                "subject", certificate.getSubjectX500Principal().getName(X500Principal.RFC2253),
                "sans", sans,
                "issuer", certificate.getIssuerX500Principal().getName(X500Principal.RFC2253),
                "serial_number", certificate.getSerialNumber().toString(16),
                "not_before", ISO_UTC.format(certificate.getNotBefore().toInstant().atOffset(ZoneOffset.UTC)),
                "not_after", ISO_UTC.format(certificate.getNotAfter().toInstant().atOffset(ZoneOffset.UTC)),
                "eku", eku);
    }

    /** Java's exception as the report shows it: the phase it happened in, class, message, causes. */
    static Map<String, Object> error(String phase, Throwable thrown) {
        List<Object> causes = new ArrayList<>();
        for (Throwable cause = thrown.getCause(); cause != null && causes.size() < 8; cause = cause.getCause()) {
            causes.add(Json.obj("exception", cause.getClass().getName(), "message", cause.getMessage()));
        }
        return Json.obj("phase", phase, "exception", thrown.getClass().getName(), "message", thrown.getMessage(),
                "causes", causes);
    }

    private Map<String, Object> failed(Map<String, Object> report, String phase, Throwable thrown) {
        report.put("error", error(phase, thrown));
        return finish(report, "error");
    }

    private Map<String, Object> finish(Map<String, Object> report, String outcome) {
        report.put("outcome", outcome);
        report.putIfAbsent("error", null);
        timings.put("total", elapsed());
        report.put("timings_ms", timings);
        return report;
    }

    private void mark(String phase) {
        timings.put(phase, elapsed());
    }

    private double elapsed() {
        return Math.round((System.nanoTime() - started) / 100_000.0) / 10.0;
    }

    /** Milliseconds left until {@code deadline}, at least 1 (0 would mean "wait forever" to a socket). */
    private static int remaining(long deadline) {
        long left = (deadline - System.nanoTime()) / 1_000_000L;
        return (int) Math.max(1, Math.min(left, Integer.MAX_VALUE));
    }

    private static Oid oid(String dotted) {
        try {
            return new Oid(dotted);
        } catch (GSSException e) {
            throw new IllegalStateException(e);
        }
    }

    // -- the probe's own command line ----------------------------------------------------------

    /** Bad usage of the probe (exit status 2). */
    static final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }

    /** {@code COMMAND --name value ...}; every option takes a value. */
    record ProbeOptions(String command, Map<String, String> values) {

        private static final Map<String, Set<String>> ALLOWED = Map.of(
                "register", Set.of("--frontend", "--frontend-fqdn", "--ucc-fqdn", "--args", "--files", "--timeout",
                        "--endpoint-identification"),
                "listen", Set.of("--port", "--bind", "--ucc-fqdn", "--args", "--files", "--timeout", "--count"),
                "login", Set.of("--frontend", "--frontend-fqdn", "--ucc-fqdn", "--args", "--files", "--timeout",
                        "--principal", "--password", "--realm", "--endpoint-identification"),
                "arguments", Set.of("--args", "--files"),
                "security", Set.of());

        static ProbeOptions parse(String[] argv) throws UsageException {
            if (argv.length == 0) {
                throw new UsageException("no command");
            }
            Map<String, String> values = new LinkedHashMap<>();
            for (int i = 1; i < argv.length; i += 2) {
                if (!argv[i].startsWith("--")) {
                    throw new UsageException("expected an --option, got " + argv[i]);
                }
                if (i + 1 >= argv.length) {
                    throw new UsageException(argv[i] + " needs a value");
                }
                values.put(argv[i], argv[i + 1]);
            }
            return new ProbeOptions(argv[0], values);
        }

        /** Refuse an unknown command or an option the command does not take. */
        void check() throws UsageException {
            Set<String> allowed = ALLOWED.get(command);
            if (allowed == null) {
                throw new UsageException("unknown command " + command);
            }
            for (String name : values.keySet()) {
                if (!allowed.contains(name)) {
                    throw new UsageException(command + " does not take " + name);
                }
            }
        }

        String required(String name) throws UsageException {
            String value = values.get(name);
            if (value == null) {
                throw new UsageException(command + " needs " + name);
            }
            return value;
        }

        String optional(String name) {
            return values.get(name);
        }

        /** The option as an integer; {@code fallback} when it is not given (null: it must be). */
        int integer(String name, Integer fallback) throws UsageException {
            String value = fallback == null ? required(name) : values.get(name);
            if (value == null) {
                return fallback;
            }
            try {
                return Integer.parseInt(value);
            } catch (NumberFormatException e) {
                throw new UsageException(name + " must be a number, not " + value);
            }
        }

        int timeoutMillis() throws UsageException {
            String value = values.getOrDefault("--timeout", "10");
            try {
                double seconds = Double.parseDouble(value);
                if (!(seconds > 0)) {
                    throw new NumberFormatException();
                }
                return (int) Math.ceil(seconds * 1000);
            } catch (NumberFormatException e) {
                throw new UsageException("--timeout must be a positive number of seconds, not " + value);
            }
        }

        /** {@code --endpoint-identification}: "HTTPS", or null for "none" or absent (a plain SSLSocket). */
        String endpointIdentification() throws UsageException {
            String value = values.getOrDefault("--endpoint-identification", "none");
            if (value.equalsIgnoreCase("none")) {
                return null;
            }
            if (value.equalsIgnoreCase("HTTPS")) {
                return "HTTPS";
            }
            throw new UsageException("--endpoint-identification must be HTTPS or none, not " + value);
        }

        InetSocketAddress address(String name) throws UsageException {
            String value = required(name);
            int colon = value.lastIndexOf(':');
            if (colon <= 0) {
                throw new UsageException(name + " must be HOST:PORT, not " + value);
            }
            try {
                return new InetSocketAddress(value.substring(0, colon), Integer.parseInt(value.substring(colon + 1)));
            } catch (IllegalArgumentException e) {
                throw new UsageException(name + " must be HOST:PORT, not " + value);
            }
        }

        ConnectorArguments.HostFiles files() {
            String directory = values.get("--files");
            return new ConnectorArguments.HostFiles(directory == null ? null : Path.of(directory));
        }
    }
}
