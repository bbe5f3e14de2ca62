// Command goref is an independent oracle for Vigil's interop tests.
//
// It wraps golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog (the Go
// reference implementation of signed notes and RFC 6962 proofs) behind a tiny
// JSON protocol: one request object on stdin, one response object on stdout.
// Only the C2SP cosignature/v1 verifier (key type 0x04, not in x/mod) is
// written here, on top of crypto/ed25519.
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type request struct {
	Op            string     `json:"op"`
	Name          string     `json:"name"`
	Skey          string     `json:"skey"`
	Text          string     `json:"text"`
	Note          string     `json:"note"`
	Vkeys         []string   `json:"vkeys"`
	Leaves        [][]byte   `json:"leaves"`
	Inclusions    [][2]int64 `json:"inclusions"`
	Consistencies [][2]int64 `json:"consistencies"`
	Checks        []check    `json:"checks"`
}

type check struct {
	Kind     string   `json:"kind"` // "inclusion" or "consistency"
	Index    int64    `json:"index"`
	Size     int64    `json:"size"`
	Size2    int64    `json:"size2"`
	LeafHash []byte   `json:"leaf_hash"`
	Root     []byte   `json:"root"`
	Root2    []byte   `json:"root2"`
	Proof    [][]byte `json:"proof"`
}

type proofOut struct {
	A     int64    `json:"a"`
	B     int64    `json:"b"`
	Proof [][]byte `json:"proof"`
}

// cosigVerifier verifies c2sp.org/tlog-cosignature v1 signatures (key type 0x04).
type cosigVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	ts := binary.BigEndian.Uint64(sig[:8])
	signed := []byte("cosignature/v1\ntime " + strconv.FormatUint(ts, 10) + "\n")
	signed = append(signed, msg...)
	return ed25519.Verify(v.pub, signed, sig[8:])
}

func newVerifier(vkey string) (note.Verifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) == 3 {
		key, err := base64.StdEncoding.DecodeString(parts[2])
		if err == nil && len(key) == 33 && key[0] == 0x04 {
			h := sha256.New()
			h.Write([]byte(parts[0] + "\n"))
			h.Write(key)
			sum := h.Sum(nil)
			hash := binary.BigEndian.Uint32(sum[:4])
			if fmt.Sprintf("%08x", hash) != parts[1] {
				return nil, errors.New("cosignature vkey: key hash mismatch")
			}
			return &cosigVerifier{name: parts[0], hash: hash, pub: ed25519.PublicKey(key[1:])}, nil
		}
	}
	return note.NewVerifier(vkey)
}

func main() {
	var req request
	dec := json.NewDecoder(os.Stdin)
	if err := dec.Decode(&req); err != nil {
		fail(err)
	}
	out, err := run(&req)
	if err != nil {
		out = map[string]any{"error": err.Error()}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "goref:", err)
	os.Exit(2)
}

func run(req *request) (map[string]any, error) {
	switch req.Op {
	case "generate":
		skey, vkey, err := note.GenerateKey(rand.Reader, req.Name)
		if err != nil {
			return nil, err
		}
		return map[string]any{"skey": skey, "vkey": vkey}, nil
	case "sign":
		s, err := note.NewSigner(req.Skey)
		if err != nil {
			return nil, err
		}
		msg, err := note.Sign(&note.Note{Text: req.Text}, s)
		if err != nil {
			return nil, err
		}
		return map[string]any{"note": string(msg)}, nil
	case "open":
		return open(req)
	case "tree":
		return tree(req)
	case "check":
		return checks(req)
	}
	return nil, fmt.Errorf("unknown op %q", req.Op)
}

func open(req *request) (map[string]any, error) {
	var vs []note.Verifier
	for _, k := range req.Vkeys {
		v, err := newVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("verifier %q: %w", k, err)
		}
		vs = append(vs, v)
	}
	n, err := note.Open([]byte(req.Note), note.VerifierList(vs...))
	if err != nil {
		return nil, err
	}
	var verified, unverified []string
	for _, s := range n.Sigs {
		verified = append(verified, s.Name)
	}
	for _, s := range n.UnverifiedSigs {
		unverified = append(unverified, s.Name)
	}
	out := map[string]any{"text": n.Text, "verified": verified, "unverified": unverified}
	if strings.HasPrefix(n.Text, "go.sum database tree\n") {
		t, err := tlog.ParseTree([]byte(n.Text))
		if err != nil {
			return nil, err
		}
		out["tree_size"] = t.N
		out["tree_hash"] = t.Hash[:]
	}
	return out, nil
}

func tree(req *request) (map[string]any, error) {
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("stored hash %d out of range", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, leaf := range req.Leaves {
		hs, err := tlog.StoredHashes(int64(i), leaf, reader)
		if err != nil {
			return nil, err
		}
		stored = append(stored, hs...)
	}
	n := int64(len(req.Leaves))
	root, err := tlog.TreeHash(n, reader)
	if err != nil {
		return nil, err
	}
	var incl, cons []proofOut
	for _, p := range req.Inclusions {
		proof, err := tlog.ProveRecord(p[1], p[0], reader)
		if err != nil {
			return nil, err
		}
		incl = append(incl, proofOut{A: p[0], B: p[1], Proof: hashes(proof)})
	}
	for _, p := range req.Consistencies {
		proof, err := tlog.ProveTree(p[1], p[0], reader)
		if err != nil {
			return nil, err
		}
		cons = append(cons, proofOut{A: p[0], B: p[1], Proof: hashes(proof)})
	}
	tiles := map[string][]byte{}
	for _, t := range tlog.NewTiles(8, 0, n) {
		data, err := tlog.ReadTileData(t, reader)
		if err != nil {
			return nil, err
		}
		tiles[c2spTilePath(t)] = data
	}
	roots := make([][]byte, 0, n)
	for size := int64(1); size <= n && size <= 64; size++ {
		r, err := tlog.TreeHash(size, reader)
		if err != nil {
			return nil, err
		}
		roots = append(roots, r[:])
	}
	return map[string]any{
		"root": root[:], "roots": roots, "inclusions": incl, "consistencies": cons, "tiles": tiles,
	}, nil
}

// c2spTilePath renders an x/mod tile of height 8 as a C2SP tlog-tiles path
// (no height component).
func c2spTilePath(t tlog.Tile) string {
	p := t.Path() // tile/8/L/N[.p/W]
	return "tile/" + strings.TrimPrefix(p, "tile/8/")
}

func hashes[T ~[]tlog.Hash](hs T) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = append([]byte(nil), hs[i][:]...)
	}
	return out
}

func toHash(b []byte) (tlog.Hash, error) {
	var h tlog.Hash
	if len(b) != len(h) {
		return h, fmt.Errorf("hash of %d bytes", len(b))
	}
	copy(h[:], b)
	return h, nil
}

func toHashes(bs [][]byte) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		h, err := toHash(b)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

func checks(req *request) (map[string]any, error) {
	results := make([]string, len(req.Checks))
	for i, c := range req.Checks {
		results[i] = "ok"
		if err := runCheck(c); err != nil {
			results[i] = err.Error()
		}
	}
	return map[string]any{"results": results}, nil
}

func runCheck(c check) error {
	proof, err := toHashes(c.Proof)
	if err != nil {
		return err
	}
	root, err := toHash(c.Root)
	if err != nil {
		return err
	}
	switch c.Kind {
	case "inclusion":
		leaf, err := toHash(c.LeafHash)
		if err != nil {
			return err
		}
		return tlog.CheckRecord(tlog.RecordProof(proof), c.Size, root, c.Index, leaf)
	case "consistency":
		root2, err := toHash(c.Root2)
		if err != nil {
			return err
		}
		return tlog.CheckTree(tlog.TreeProof(proof), c.Size2, root2, c.Size, root)
	}
	return fmt.Errorf("unknown check kind %q", c.Kind)
}
