package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// EnvPrefix starts the name of every environment variable that overrides a
// key: SLUICE_ + the key path upper-cased with '_' between levels, e.g.
// SLUICE_KAFKA_SASL_PASSWORD_FILE for kafka.sasl.password_file.
const EnvPrefix = "SLUICE_"

// Load reads the configuration: defaults, then the YAML file at path, then
// the environment (see EnvPrefix), each overriding the one before. It then
// reads the *_file secrets, fills the name-derived defaults and validates
// the result.
//
// When explicit is false (the user did not pass -c) a missing file is not an
// error: the configuration comes from defaults and the environment alone.
// When explicit is true it is.
//
// Every error is, or joins, *Error values (see IsConfigError), reporting all
// problems found at once; callers exit with status 2. No error text contains
// a secret.
func Load(path string, explicit bool) (*Config, error) {
	s := keySchema()
	v := viper.New()
	v.SetConfigType("yaml")
	// An empty variable means an empty value, so that SLUICE_KAFKA_BROKERS=
	// selects the embedded broker even when the file lists brokers.
	v.AllowEmptyEnv(true)
	defaults := reflect.ValueOf(Defaults())
	for _, k := range s.leaves {
		v.SetDefault(k.path, defaults.FieldByIndex(k.index).Interface())
		// Bound one by one, not through AutomaticEnv, because AutomaticEnv
		// only sees keys that are already known from the file.
		if err := v.BindEnv(k.path, k.env); err != nil {
			return nil, &Error{Key: k.path, Msg: "cannot bind its environment variable", err: err}
		}
	}

	var errs []error
	failed := failedKeys{}
	unknown, err := readFile(v, path, explicit)
	if err != nil {
		return nil, err
	}
	for _, e := range unknown {
		errs = append(errs, e)
	}

	for _, k := range s.leaves {
		val, set := os.LookupEnv(k.env)
		if set && strings.TrimSpace(val) == "" && !k.emptyOK() {
			errs = append(errs, &Error{Key: k.path, Msg: fmt.Sprintf(
				"is set to an empty value by %s; unset the variable or give %s", k.env, k.kindPhrase())})
			failed.add(k.path)
		}
	}

	var c Config
	hook := viper.DecodeHook(decodeHook)
	var decodeErr error
	if len(unknown) > 0 {
		// The unknown keys are reported above, with suggestions;
		// ErrorUnused would only report them again without.
		decodeErr = v.Unmarshal(&c, hook)
	} else {
		decodeErr = v.UnmarshalExact(&c, hook)
	}
	for _, e := range s.decodeErrors(v, decodeErr) {
		if !failed.covers(e.Key) {
			errs = append(errs, e)
			failed.add(e.Key)
		}
	}

	errs = append(errs, c.readSecretFiles(failed)...)
	c.normalize()

	for _, e := range flatten(c.Validate()) {
		var ce *Error
		if errors.As(e, &ce) && failed.covers(ce.Key) {
			continue // the key already has a more precise error
		}
		errs = append(errs, e)
	}

	switch len(errs) {
	case 0:
		return &c, nil
	case 1:
		return nil, errs[0]
	default:
		return nil, errors.Join(errs...)
	}
}

// readFile merges the YAML file at path into v and returns its unknown keys.
func readFile(v *viper.Viper, path string, explicit bool) ([]*Error, error) {
	if path == "" {
		if explicit {
			return nil, &Error{Msg: "no configuration file name given"}
		}
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, &Error{Msg: "cannot read the configuration file", err: err}
	}
	// The file is parsed by a viper of its own so that its keys can be
	// checked before defaults and environment blur them, and so that keys
	// written with no value (`postgres:`) are dropped instead of hiding the
	// defaults beneath them.
	fv := viper.New()
	fv.SetConfigType("yaml")
	if err := fv.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, &Error{Msg: fmt.Sprintf("%s is not valid YAML", path), err: err}
	}
	unknown := keySchema().unknownKeys(fv.AllKeys())
	if err := v.MergeConfigMap(fv.AllSettings()); err != nil {
		return nil, &Error{Msg: fmt.Sprintf("cannot merge %s", path), err: err}
	}
	return unknown, nil
}

// readSecretFiles replaces each secret by the content of its *_file key.
func (c *Config) readSecretFiles(failed failedKeys) []error {
	trimNewline := func(s string) string { return strings.TrimRight(s, "\r\n") }
	pairs := []struct {
		key, fileKey string
		value, file  *string
		trim         func(string) string
	}{
		{"source.dsn", "source.dsn_file", &c.Source.DSN, &c.Source.DSNFile, strings.TrimSpace},
		{"kafka.sasl.password", "kafka.sasl.password_file", &c.Kafka.SASL.Password, &c.Kafka.SASL.PasswordFile, trimNewline},
		{"schema_registry.password", "schema_registry.password_file", &c.SchemaRegistry.Password, &c.SchemaRegistry.PasswordFile, trimNewline},
	}
	var errs []error
	for _, p := range pairs {
		if *p.file == "" || failed.covers(p.key) || failed.covers(p.fileKey) {
			continue
		}
		failed.add(p.key) // Validate's "required" would only repeat an error below
		if *p.value != "" {
			errs = append(errs, &Error{Key: p.fileKey, Msg: fmt.Sprintf(
				"is set together with %s; set only one of them", p.key)})
			continue
		}
		data, err := os.ReadFile(*p.file)
		if err != nil {
			// The *PathError names the path, never the content.
			errs = append(errs, &Error{Key: p.fileKey, Msg: "cannot be read", err: err})
			continue
		}
		secret := p.trim(string(data))
		if secret == "" {
			errs = append(errs, &Error{Key: p.fileKey, Value: *p.file, Msg: "is an empty file"})
			continue
		}
		*p.value = secret
		delete(failed, p.key)
	}
	return errs
}

// normalize makes enumerated values case-insensitive and fills the defaults
// that derive from the name.
func (c *Config) normalize() {
	for _, p := range []*string{&c.Log.Level, &c.Log.Format, &c.Source.Type, &c.Snapshot.Mode} {
		*p = strings.ToLower(strings.TrimSpace(*p))
	}
	c.Kafka.SASL.Mechanism = strings.ToUpper(strings.TrimSpace(c.Kafka.SASL.Mechanism))
	if c.Source.Postgres.Slot == "" {
		c.Source.Postgres.Slot = derivedPostgresName(c.Name)
	}
	if c.Source.Postgres.Publication == "" {
		c.Source.Postgres.Publication = derivedPostgresName(c.Name)
	}
	if c.Kafka.ClientID == "" {
		c.Kafka.ClientID = "sluice-" + c.Name
	}
	c.normalizeTransforms()
}

// derivedPostgresName is the default slot and publication name: sluice_ and
// the name lower-cased, with every character outside [a-z0-9_] replaced by
// '_', which is all a replication slot name may contain.
func derivedPostgresName(name string) string {
	return "sluice_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, strings.ToLower(name))
}

// failedKeys are keys that already have an error; later checks of the same
// key, or of a key below it, are not reported.
type failedKeys map[string]bool

func (f failedKeys) add(key string) { f[key] = true }

func (f failedKeys) covers(key string) bool {
	for k := range f {
		if key == k || strings.HasPrefix(key, k+".") {
			return true
		}
	}
	return false
}

// leafKey describes one configuration key that holds a value.
type leafKey struct {
	path   string // kafka.sasl.password_file
	env    string // SLUICE_KAFKA_SASL_PASSWORD_FILE
	typ    reflect.Type
	index  []int // field index path from Config
	secret bool
}

// emptyOK reports whether an empty environment variable is a meaningful
// value for the key (an empty string or list) rather than a mistake.
func (k leafKey) emptyOK() bool {
	return k.typ.Kind() == reflect.String || k.typ.Kind() == reflect.Slice
}

// kindPhrase names the kind of value the key takes, for messages.
func (k leafKey) kindPhrase() string {
	switch {
	case k.typ == durationType:
		return "a duration such as 500ms, 10s or 2m"
	case k.typ.Kind() == reflect.Bool:
		return "true or false"
	case k.typ.Kind() == reflect.Slice:
		return "a list of strings"
	case k.typ.Kind() == reflect.String:
		return "a string"
	case isUint(k.typ.Kind()):
		return fmt.Sprintf("an integer from 0 to %d", uint64(1)<<k.typ.Bits()-1)
	default:
		return "an integer"
	}
}

// typeMsg is the message for a value that could not be decoded into the key.
func (k leafKey) typeMsg(cause error) string {
	var re *rangeError
	switch {
	case errors.As(cause, &re):
		return fmt.Sprintf("is out of range; use an integer from %s to %s", re.min, re.max)
	case errors.Is(cause, errDurationUnit):
		return "has no unit; use a duration such as 500ms, 10s or 2m (only 0 needs no unit)"
	}
	return "is not " + k.kindPhrase()
}

// schema is the set of configuration keys, derived from the mapstructure tags
// of Config.
type schema struct {
	leaves   []leafKey
	byPath   map[string]leafKey
	sections map[string]bool     // paths of nested structs: "kafka", "kafka.sasl"
	children map[string][]string // parent path ("" for the top) to child names, in field order
	paths    []string            // every leaf and section path, in field order
}

var keySchema = sync.OnceValue(func() *schema {
	s := &schema{
		byPath:   map[string]leafKey{},
		sections: map[string]bool{},
		children: map[string][]string{},
	}
	s.walk(reflect.TypeFor[Config](), "", nil)
	return s
})

func (s *schema) walk(t reflect.Type, prefix string, index []int) {
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("mapstructure")
		if name == "" || !f.IsExported() {
			continue
		}
		path := joinKey(prefix, name)
		idx := append(slices.Clone(index), i)
		s.children[prefix] = append(s.children[prefix], name)
		s.paths = append(s.paths, path)
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			s.sections[path] = true
			s.walk(f.Type, path, idx)
			continue
		}
		k := leafKey{
			path:   path,
			env:    EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_")),
			typ:    f.Type,
			index:  idx,
			secret: f.Tag.Get("sluice") == "secret",
		}
		s.leaves = append(s.leaves, k)
		s.byPath[path] = k
	}
}

func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// isSecretKey reports whether key holds a secret, whose value must never be
// printed.
func isSecretKey(key string) bool {
	return keySchema().byPath[key].secret
}

// unknownKeys returns an error for every key of the file that Config does
// not have, reporting the shortest unknown prefix once.
func (s *schema) unknownKeys(fileKeys []string) []*Error {
	slices.Sort(fileKeys)
	seen := map[string]bool{}
	var errs []*Error
	for _, key := range fileKeys {
		segs := strings.Split(key, ".")
		for i := 1; i <= len(segs); i++ {
			p := strings.Join(segs[:i], ".")
			if s.sections[p] {
				continue
			}
			if _, ok := s.byPath[p]; !ok && !seen[p] {
				seen[p] = true
				errs = append(errs, &Error{Key: p, Msg: s.unknownMsg(p)})
			}
			// A known leaf with keys below it is a type error, which
			// decoding reports.
			break
		}
	}
	return errs
}

func (s *schema) unknownMsg(key string) string {
	if near := s.suggest(key); near != "" {
		return fmt.Sprintf("is not a known key; did you mean %s?", near)
	}
	parent, _ := splitKey(key)
	if parent == "" {
		return "is not a known key; the top-level keys are " + strings.Join(s.children[""], ", ")
	}
	return fmt.Sprintf("is not a known key; %s takes %s", parent, strings.Join(s.children[parent], ", "))
}

// suggest returns the known key the user most likely meant by key: a
// sibling within a small edit distance, or a sibling that is a
// '_'-separated prefix of it (or it of the sibling), or else a key elsewhere
// whose last part (nearly) matches, preferring the one sharing the longest
// prefix. It returns "" when nothing is close.
func (s *schema) suggest(key string) string {
	parent, name := splitKey(key)
	best, bestDist := "", min(3, max(1, len(name)/3))+1
	for _, c := range s.children[parent] {
		if d := editDistance(name, c); d < bestDist {
			best, bestDist = joinKey(parent, c), d
		}
	}
	if best != "" {
		return best
	}
	// slot_name for slot, server for server_id.
	for _, c := range s.children[parent] {
		if strings.HasPrefix(name, c+"_") || strings.HasPrefix(c, name+"_") {
			return joinKey(parent, c)
		}
	}
	bestDist, bestShared := 2, -1
	for _, p := range s.paths {
		_, last := splitKey(p)
		d := editDistance(name, last)
		if d >= 2 {
			continue
		}
		shared := sharedSegments(parent, p)
		if d < bestDist || d == bestDist && shared > bestShared {
			best, bestDist, bestShared = p, d, shared
		}
	}
	return best
}

func splitKey(key string) (parent, name string) {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[:i], key[i+1:]
	}
	return "", key
}

func sharedSegments(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	n := 0
	for n < len(as) && n < len(bs) && as[n] == bs[n] && as[n] != "" {
		n++
	}
	return n
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of adjacent bytes each cost 1,
// so "dns" is one edit from "dsn".
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// decodeErrors turns the errors of mapstructure into *Error values keyed by
// the configuration key, sorted by key.
func (s *schema) decodeErrors(v *viper.Viper, err error) []*Error {
	var errs []*Error
	for _, e := range flatten(err) {
		key, cause := "", e
		var de *mapstructure.DecodeError
		if errors.As(e, &de) {
			key, cause = de.Name(), de.Unwrap()
		}
		if strings.HasPrefix(key, "transforms[") {
			// An entry of the list: its own key, never its values
			// (a salt is secret).
			errs = append(errs, transformDecodeError(key, cause))
			continue
		}
		// "source.tables[1]" is an element of source.tables.
		key, _, _ = strings.Cut(key, "[")
		switch k, ok := s.byPath[key]; {
		case ok:
			errs = append(errs, &Error{Key: key, Value: displayValue(k, v.Get(key)), Msg: k.typeMsg(cause)})
		case s.sections[key]:
			errs = append(errs, &Error{Key: key, Msg: "must be a mapping of keys, not a single value or a list"})
		default:
			errs = append(errs, &Error{Key: key, Msg: "cannot be decoded", err: cause})
		}
	}
	slices.SortStableFunc(errs, func(a, b *Error) int { return strings.Compare(a.Key, b.Key) })
	return errs
}

// displayValue is the value shown in an error about key k: never a secret,
// never a whole mapping.
func displayValue(k leafKey, raw any) string {
	if k.secret || raw == nil {
		return ""
	}
	switch raw := raw.(type) {
	case map[string]any, map[any]any:
		return ""
	case string:
		return raw
	}
	return fmt.Sprint(raw)
}

// flatten returns the leaves of a tree of joined errors, unwrapping
// mapstructure's DecodeErrors that only group the errors of a nested struct
// and the single wrapper mapstructure puts around all of them.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*Error); ok {
		return []error{err}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	if de, ok := err.(*mapstructure.DecodeError); ok {
		inner := de.Unwrap()
		if _, group := inner.(interface{ Unwrap() []error }); group {
			return flatten(inner)
		}
		if _, nested := inner.(*mapstructure.DecodeError); nested {
			return flatten(inner)
		}
		return []error{err}
	}
	if w, ok := err.(interface{ Unwrap() error }); ok {
		switch inner := w.Unwrap(); inner.(type) {
		case interface{ Unwrap() []error }, *mapstructure.DecodeError:
			return flatten(inner)
		}
	}
	return []error{err}
}

// Decode hook errors; the messages users see are made by leafKey.typeMsg.
var (
	errNotDuration  = errors.New("not a duration")
	errDurationUnit = errors.New("duration without a unit")
	errNotInteger   = errors.New("not an integer")
)

type rangeError struct{ min, max string }

func (e *rangeError) Error() string { return "out of range " + e.min + ".." + e.max }

// decodeHook converts the loosely typed values of YAML and the environment:
// durations from strings ("10s"; a bare number other than 0 is an error, not
// nanoseconds), lists from comma-separated strings, and integers with a
// range check instead of silent wrap-around.
func decodeHook(from, to reflect.Type, data any) (any, error) {
	switch {
	case to == transformType:
		return nullWith(data), nil
	case to == durationType:
		return toDuration(from, data)
	case to.Kind() == reflect.Slice && from.Kind() == reflect.String:
		return splitList(reflect.ValueOf(data).String()), nil
	case isInt(to.Kind()) || isUint(to.Kind()):
		return toInteger(from, to, data)
	}
	return data, nil
}

func toDuration(from reflect.Type, data any) (any, error) {
	if from == durationType {
		return data, nil
	}
	rv := reflect.ValueOf(data)
	switch k := from.Kind(); {
	case k == reflect.String:
		d, err := time.ParseDuration(strings.TrimSpace(rv.String()))
		if err != nil {
			return nil, errNotDuration
		}
		return d, nil
	case isInt(k) && rv.Int() == 0, isUint(k) && rv.Uint() == 0, isFloat(k) && rv.Float() == 0:
		return time.Duration(0), nil
	case isInt(k), isUint(k), isFloat(k):
		return nil, errDurationUnit
	}
	return data, nil
}

// splitList splits a comma-separated list, as environment variables give
// them; spaces around items are dropped, and "" is the empty list.
func splitList(s string) []string {
	out := []string{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func toInteger(from, to reflect.Type, data any) (any, error) {
	rv := reflect.ValueOf(data)
	var n int64
	switch k := from.Kind(); {
	case isInt(k):
		n = rv.Int()
	case isUint(k):
		if rv.Uint() > math.MaxInt64 {
			return nil, intRange(to)
		}
		n = int64(rv.Uint())
	case isFloat(k):
		f := rv.Float()
		if f != math.Trunc(f) {
			return nil, errNotInteger
		}
		if f < math.MinInt64 || f >= math.MaxInt64 {
			return nil, intRange(to)
		}
		n = int64(f)
	case k == reflect.String:
		var err error
		n, err = strconv.ParseInt(strings.TrimSpace(rv.String()), 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return nil, intRange(to)
		}
		if err != nil {
			return nil, errNotInteger
		}
	case k == reflect.Bool:
		return nil, errNotInteger
	default:
		return data, nil
	}
	if isUint(to.Kind()) {
		if n < 0 || to.OverflowUint(uint64(n)) {
			return nil, intRange(to)
		}
	} else if to.OverflowInt(n) {
		return nil, intRange(to)
	}
	return n, nil
}

func intRange(t reflect.Type) *rangeError {
	if isUint(t.Kind()) {
		return &rangeError{"0", strconv.FormatUint(uint64(1)<<t.Bits()-1, 10)}
	}
	return &rangeError{strconv.FormatInt(-1<<(t.Bits()-1), 10), strconv.FormatInt(1<<(t.Bits()-1)-1, 10)}
}

func isInt(k reflect.Kind) bool {
	return k == reflect.Int || k == reflect.Int8 || k == reflect.Int16 || k == reflect.Int32 || k == reflect.Int64
}

func isUint(k reflect.Kind) bool {
	return k == reflect.Uint || k == reflect.Uint8 || k == reflect.Uint16 || k == reflect.Uint32 || k == reflect.Uint64
}

func isFloat(k reflect.Kind) bool { return k == reflect.Float32 || k == reflect.Float64 }
