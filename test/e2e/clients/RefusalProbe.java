// One JVM for every case of test/e2e/partner-table.test.ts: reads "id<TAB>cert-or-dash<TAB>TLSv1.x"
// lines on stdin, runs a GET with Java's HttpClient (client certificate from PEM files, our root as
// the only trust anchor) and prints "id<TAB>what the client reported" per case.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;

public class RefusalProbe {
  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    String url = args[1];
    CertificateFactory cf = CertificateFactory.getInstance("X.509");
    KeyStore trust = KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    try (var in = Files.newInputStream(dir.resolve("root-ca.pem"))) {
      trust.setCertificateEntry("root", cf.generateCertificate(in));
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    BufferedReader lines = new BufferedReader(new InputStreamReader(System.in));
    for (String line; (line = lines.readLine()) != null; ) {
      String[] f = line.split("\t");
      String result;
      try {
        SSLContext ctx = SSLContext.getInstance("TLS");
        KeyManagerFactory kmf = null;
        if (!f[1].equals("-")) {
          KeyStore ks = KeyStore.getInstance("PKCS12");
          ks.load(null, null);
          Certificate[] chain;
          try (var in = Files.newInputStream(dir.resolve(f[1] + ".pem"))) {
            chain = cf.generateCertificates(in).toArray(new Certificate[0]);
          }
          String pem = Files.readString(dir.resolve(f[1] + "-key.pem"));
          byte[] der = Base64.getMimeDecoder().decode(pem.replaceAll("-----[A-Z ]+-----", ""));
          PrivateKey key = KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(der));
          ks.setKeyEntry("client", key, "x".toCharArray(), chain);
          kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
          kmf.init(ks, "x".toCharArray());
        }
        ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        SSLParameters params = new SSLParameters();
        params.setProtocols(new String[] {f[2]});
        HttpClient client = HttpClient.newBuilder()
            .sslContext(ctx)
            .sslParameters(params)
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10))
            .build();
        HttpRequest req = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build();
        HttpResponse<String> res = client.send(req, HttpResponse.BodyHandlers.ofString());
        Matcher m = Pattern.compile("\"error\"\\s*:\\s*\"([^\"]*)\"").matcher(res.body());
        result = res.statusCode() + (m.find() ? " · " + m.group(1) : "");
      } catch (Exception e) {
        String msg = String.valueOf(e.getMessage()).split("\n")[0];
        result = e.getClass().getName() + ": " + msg;
      }
      System.out.println(f[0] + "\t" + result);
    }
  }
}
