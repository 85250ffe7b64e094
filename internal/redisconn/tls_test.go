package redisconn_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/redisconn"
)

// rediss:// with HEROLD_REDIS_TLS_CA_FILE verifies the server against that CA
// (and the address dialled); without it the system's CAs reject the server.
func TestTLSWithCAFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTLSFiles(t, dir)
	port := closedPort(t)
	srv := exec.Command("redis-server", "--port", "0", "--bind", "127.0.0.1", "--tls-port", port,
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", caFile,
		"--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", dir,
		"--logfile", filepath.Join(dir, "redis.log")) // the refused handshakes below log there
	if err := srv.Start(); err != nil {
		t.Fatalf("start redis-server with TLS (apt-get install -y redis-server): %v", err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	url := "rediss://127.0.0.1:" + port + "/0"

	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var rdb interface{ Close() error }
		if rdb, err = redisconn.Open(t.Context(), load(t, map[string]string{"HEROLD_REDIS_URL": url, "HEROLD_REDIS_TLS_CA_FILE": caFile}), 1); err == nil {
			rdb.Close()
			break
		}
	}
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
		t.Fatalf("Open over TLS with the CA file: %v\nredis-server log:\n%s", err, log)
	}
	_, err = redisconn.Open(t.Context(), load(t, map[string]string{"HEROLD_REDIS_URL": url}), 1)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Open over TLS without the CA file = %v, want a certificate error", err)
	}
}

// writeTLSFiles writes a CA and a server certificate for 127.0.0.1 signed by it.
func writeTLSFiles(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "herold test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", leafDER), write("server.key", "EC PRIVATE KEY", keyDER)
}
