package testenv

// The consumer clients of the consumer tests: the programs in
// integration/consumers (consume.py, consume.js) and the Python venv and
// Node modules that scripts/install-consumers.sh installs for them under
// Cache(), in directories named after a hash of the pin files, so that a
// changed pin is never run with the packages of an older one.

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
)

// ConsumersDir returns integration/consumers of this checkout.
func ConsumersDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "consumers")
}

// pinKey is install-consumers.sh's key_of: the first 12 hex digits of the
// SHA-256 of the files' contents, concatenated.
func pinKey(files ...string) (string, error) {
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(ConsumersDir(), f))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// ConsumerPython returns the Python interpreter of the venv holding
// confluent-kafka and fastavro at the versions of
// integration/consumers/requirements.txt.
func ConsumerPython() (string, error) {
	key, err := pinKey("requirements.txt")
	if err != nil {
		return "", err
	}
	dir := filepath.Join(Cache(), "consumers-python-"+key)
	if !fileExists(filepath.Join(dir, ".complete")) {
		return "", notInstalled("the Python consumer (confluent-kafka) of requirements.txt", dir)
	}
	return filepath.Join(dir, "bin", "python"), nil
}

// ConsumerNodeModules returns the node_modules directory holding kafkajs
// and @kafkajs/confluent-schema-registry at the versions of
// integration/consumers/package-lock.json (run node with NODE_PATH set to
// it).
func ConsumerNodeModules() (string, error) {
	key, err := pinKey("package.json", "package-lock.json")
	if err != nil {
		return "", err
	}
	dir := filepath.Join(Cache(), "consumers-node-"+key)
	if !fileExists(filepath.Join(dir, ".complete")) {
		return "", notInstalled("the Node consumer (kafkajs) of package-lock.json", dir)
	}
	return filepath.Join(dir, "node_modules"), nil
}
