// Package receiptscmd implements `tfocol receipts`: create signing keys, verify receipt directories offline,
// and produce and check inclusion and consistency proofs. It shares every format with the receipt exporter
// through internal/receipts.
package receiptscmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/mod/sumdb/note"

	"github.com/tfocol/tfocol/internal/atomicfile"
	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/checkpoint"
	"github.com/tfocol/tfocol/internal/receipts/query"
)

// New returns the `receipts` command.
func New() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "receipts",
		Short: "Verify and inspect receipt exporter output offline",
		Long: "Work with the files written by the receipt exporter: hash-chained receipt logs\n" +
			"(receipts/observability/observability_events.jsonl), BLAKE3 Merkle-rooted batch files and signed\n" +
			"ROOT.observability.txt checkpoints. See docs/receipts.md for the formats.",
	}
	cmd.AddCommand(keygenCmd(), verifyCmd(), cosignCmd(), proveCmd(), checkProofCmd(), consistencyCmd(), showCmd(), listCmd(),
		queryCmd(), correlateCmd())
	return cmd
}

func keygenCmd() *cobra.Command {
	var name, out string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Write an ed25519 ROOT signing key (for signing_key_file) and print its verifier key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			skey, vkey, err := checkpoint.GenerateKey(name)
			if err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return fmt.Errorf("writing signing key: %w", err)
			}
			if _, err := fmt.Fprintln(f, skey); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "signing key written to %s (keep it secret); verifier key:\n", out)
			fmt.Fprintln(cmd.OutOrStdout(), vkey)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "tfocol-receipts", "key name recorded in signatures")
	cmd.Flags().StringVar(&out, "out", "receipts-signing.key", "file to create for the signing key (never overwritten)")
	return cmd
}

// loadVerifier accepts a verifier key or a file holding one.
func loadVerifier(k string) (note.Verifier, error) {
	if k == "" {
		return nil, nil
	}
	if raw, err := os.ReadFile(k); err == nil {
		k = string(raw)
	}
	v, err := checkpoint.NewVerifier(k)
	if err != nil {
		return nil, fmt.Errorf("--pubkey: %w", err)
	}
	return v, nil
}

// ErrUnverified is returned by verify when every check passed but no --pubkey was given: the files are
// consistent, but nothing shows who wrote them.
var ErrUnverified = errors.New("UNVERIFIED: ROOT signatures were not checked (no --pubkey); pass --pubkey <verifier key>, " +
	"or --no-signature-check to accept a result that checks integrity only")

func verifyCmd() *cobra.Command {
	var dir, pubkey, origin string
	var witnessKeys []string
	var noSigCheck bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Re-hash batch files, recompute Merkle roots, the receipt chain and ROOT, and check its signature",
		Long: "Verify one scroll directory, or every workspace scroll under an exporter directory. On failure it\n" +
			"names the file and the receipt line or record index and exits non-zero.\n\n" +
			"The origin signature (the first signature line of ROOT) is checked with --pubkey. Without --pubkey the\n" +
			"result is UNVERIFIED and verify exits non-zero, unless --no-signature-check is given. Further signature\n" +
			"lines are witness cosignatures: each --witness-pubkey must have a valid one; others are listed unchecked.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pubkey != "" && noSigCheck {
				return errors.New("--pubkey and --no-signature-check contradict each other")
			}
			v, err := loadVerifier(pubkey)
			if err != nil {
				return err
			}
			var witnesses []note.Verifier
			for _, k := range witnessKeys {
				w, err := loadVerifier(k)
				if err != nil {
					return fmt.Errorf("--witness-pubkey: %w", err)
				}
				witnesses = append(witnesses, w)
			}
			scrolls, err := receipts.FindScrolls(dir)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			var failed []error
			for _, s := range scrolls {
				start := time.Now()
				rep, err := receipts.VerifyScroll(s, receipts.VerifyOptions{Verifier: v, Witnesses: witnesses, OriginPrefix: origin})
				if err != nil {
					failed = append(failed, fmt.Errorf("%s: %w", s, err))
					fmt.Fprintf(out, "FAIL %s: %v\n", s, err)
					continue
				}
				verdict, sig := "OK  ", "signature verified"
				switch {
				case rep.Verified:
				case rep.Signed:
					verdict, sig = "UNVERIFIED", "signed, signature NOT checked (no --pubkey)"
				default:
					verdict, sig = "UNVERIFIED", "unsigned ROOT, authenticity NOT established"
				}
				fmt.Fprintf(out, "%s %s: %d receipts, %d records, origin %q, %s (%s)\n", verdict, s, rep.Receipts, rep.Records,
					rep.Origin, sig, time.Since(start).Round(time.Millisecond))
				for i, c := range rep.Signatures {
					if i == 0 {
						continue
					}
					state := "NOT checked (no --witness-pubkey for it)"
					if c.Verified {
						state = "verified"
					}
					fmt.Fprintf(out, "     cosignature %d by %s: %s\n", i, c.KeyID(), state)
				}
				for _, m := range rep.Removed {
					fmt.Fprintf(out, "     removed by retention: %s (receipt %s; %s at %s, %s, receipt line %d)\n", m.StoragePath, m.ReceiptID,
						m.RemovalID, m.At, m.Reason, m.Line)
				}
				for _, id := range rep.NotRechecked {
					fmt.Fprintf(out, "     note: %s: counts not recounted (source batch files removed by retention; its commitment to their receipt lines holds)\n", id)
				}
				for _, u := range rep.Unsealed {
					fmt.Fprintf(out, "     note: %s is not referenced by any receipt (left by a crash before sealing; the exporter rewrites it)\n", u)
				}
			}
			if len(failed) > 0 {
				return errors.Join(failed...)
			}
			if v == nil && !noSigCheck {
				fmt.Fprintln(out, ErrUnverified.Error())
				return ErrUnverified
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "scroll directory or exporter directory (required)")
	cmd.Flags().StringVar(&pubkey, "pubkey", "", "origin verifier key (or file with it); the first ROOT signature line must be a valid signature by it")
	cmd.Flags().StringArrayVar(&witnessKeys, "witness-pubkey", nil, "witness verifier key (or file); ROOT must carry a valid cosignature by it (repeatable)")
	cmd.Flags().BoolVar(&noSigCheck, "no-signature-check", false, "check integrity only and exit 0 without --pubkey (the result stays UNVERIFIED)")
	cmd.Flags().StringVar(&origin, "origin", receipts.DefaultOriginPrefix, "expected checkpoint origin prefix (the exporter's origin setting)")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func cosignCmd() *cobra.Command {
	var keyFile, pubkey string
	cmd := &cobra.Command{
		Use:   "cosign ROOT_FILE",
		Short: "Append a witness cosignature to a ROOT file whose origin signature verifies with --pubkey",
		Long: "Append a witness cosignature (docs/receipts.md §6) to ROOT_FILE, in place. Cosign a copy: the exporter\n" +
			"rewrites its own ROOT after every receipt. A witness should cosign only a checkpoint it has checked to\n" +
			"extend the last one it cosigned (tfocol receipts consistency).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := loadVerifier(pubkey)
			if err != nil {
				return err
			}
			skey, err := os.ReadFile(keyFile)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			signer, err := checkpoint.NewSigner(string(skey))
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			if _, err := checkpoint.Parse(raw, v); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			cosigned, err := checkpoint.Cosign(raw, signer)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if err := atomicfile.WriteFile(args[0], cosigned, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cosigned %s as %s+%08x\n", args[0], signer.Name(), signer.KeyHash())
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "witness signing key file (from keygen; required)")
	cmd.Flags().StringVar(&pubkey, "pubkey", "", "origin verifier key (or file); the origin signature must verify (required)")
	_ = cmd.MarkFlagRequired("key")
	_ = cmd.MarkFlagRequired("pubkey")
	return cmd
}

// resolveScroll finds the scroll holding receipt id under dir (itself a scroll or an exporter directory).
func resolveScroll(dir, id string) (string, error) {
	scrolls, err := receipts.FindScrolls(dir)
	if err != nil {
		return "", err
	}
	var found []string
	for _, s := range scrolls {
		lines, err := receipts.ScrollLines(s)
		if err != nil {
			continue
		}
		if _, _, err := receipts.FindReceipt(lines, id); err == nil {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no receipt %q under %s", id, dir)
	case 1:
		return found[0], nil
	default:
		return "", fmt.Errorf("receipt %q exists in several workspaces (%s); pass a workspace scroll directory as --dir", id, strings.Join(found, ", "))
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func proveCmd() *cobra.Command {
	var dir, id string
	var index uint64
	cmd := &cobra.Command{
		Use:   "prove",
		Short: "Print an inclusion proof (JSON) for record --index of receipt --receipt, up to the current ROOT",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := resolveScroll(dir, id)
			if err != nil {
				return err
			}
			p, err := receipts.BuildInclusionProof(s, id, index)
			if err != nil {
				return err
			}
			return writeJSON(cmd.OutOrStdout(), p)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "scroll or exporter directory")
	cmd.Flags().StringVar(&id, "receipt", "", "receipt id (required)")
	cmd.Flags().Uint64Var(&index, "index", 0, "record index inside the receipt's batch (0-based)")
	_ = cmd.MarkFlagRequired("receipt")
	return cmd
}

func readArg(args []string) ([]byte, error) {
	if len(args) == 0 || args[0] == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(args[0])
}

func checkProofCmd() *cobra.Command {
	var pubkey string
	cmd := &cobra.Command{
		Use:   "check-proof [PROOF.json|-]",
		Short: "Verify an inclusion proof: record → receipt Merkle root → receipt line → ROOT (→ signature)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := loadVerifier(pubkey)
			if err != nil {
				return err
			}
			raw, err := readArg(args)
			if err != nil {
				return err
			}
			p, err := receipts.ParseInclusionProof(raw)
			if err != nil {
				return err
			}
			cp, err := receipts.CheckInclusionProof(p, v)
			if err != nil {
				return fmt.Errorf("proof rejected: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "OK record %d of %s is committed by checkpoint %q size %d", p.LeafIndex, p.ReceiptID, cp.Origin, cp.Size)
			if cp.Verified {
				fmt.Fprint(cmd.OutOrStdout(), " (signature verified)")
			} else {
				fmt.Fprint(cmd.OutOrStdout(), " (UNVERIFIED: checkpoint signature not checked, no --pubkey)")
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().StringVar(&pubkey, "pubkey", "", "verifier key (or file); the checkpoint must then be signed by it")
	return cmd
}

func readCheckpoint(path string, v note.Verifier) (checkpoint.Checkpoint, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return checkpoint.Checkpoint{}, err
	}
	f, err := checkpoint.Parse(raw, v)
	if err != nil {
		return checkpoint.Checkpoint{}, fmt.Errorf("%s: %w", path, err)
	}
	return f.Checkpoint, nil
}

func consistencyCmd() *cobra.Command {
	var dir, proofFile, pubkey string
	cmd := &cobra.Command{
		Use:   "consistency OLD_ROOT NEW_ROOT",
		Short: "Prove (with --dir) or check (with --proof) that NEW_ROOT's receipt log extends OLD_ROOT's",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := loadVerifier(pubkey)
			if err != nil {
				return err
			}
			oldCP, err := readCheckpoint(args[0], v)
			if err != nil {
				return err
			}
			newCP, err := readCheckpoint(args[1], v)
			if err != nil {
				return err
			}
			var p *receipts.ConsistencyProof
			switch {
			case proofFile != "":
				raw, err := os.ReadFile(proofFile)
				if err != nil {
					return err
				}
				if p, err = receipts.ParseConsistencyProof(raw); err != nil {
					return err
				}
			case dir != "":
				if p, err = receipts.BuildConsistencyProof(dir, oldCP, newCP); err != nil {
					return err
				}
			default:
				return errors.New("pass --dir (scroll directory to build the proof from) or --proof (proof JSON to check)")
			}
			if err := receipts.CheckConsistencyProof(p, oldCP, newCP); err != nil {
				return fmt.Errorf("NOT consistent: %w", err)
			}
			if proofFile == "" {
				return writeJSON(cmd.OutOrStdout(), p)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "OK size %d extends size %d\n", newCP.Size, oldCP.Size)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "workspace scroll directory holding the receipt log")
	cmd.Flags().StringVar(&proofFile, "proof", "", "consistency proof JSON to check instead of building one")
	cmd.Flags().StringVar(&pubkey, "pubkey", "", "verifier key (or file); both checkpoints must be signed by it")
	return cmd
}

func showCmd() *cobra.Command {
	var sel selection
	var id string
	var records bool
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print receipts as JSON (all, or --receipt ID); --records also prints its records as OTLP JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			all, err := sel.scan(cmd, query.Filter{}, false)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			shown := 0
			for _, m := range all {
				if id != "" && m.Receipt.ID != id {
					continue
				}
				shown++
				if err := writeJSON(out, m.Receipt); err != nil {
					return err
				}
				if records {
					if err := printRecords(out, m.Scroll.Dir, m.Receipt); err != nil {
						return err
					}
				}
			}
			if id != "" && shown == 0 {
				return fmt.Errorf("no receipt %q under %s", id, strings.Join(sel.dirs, ", "))
			}
			return nil
		},
	}
	sel.addDirFlags(cmd.Flags())
	cmd.Flags().StringVar(&id, "receipt", "", "receipt id")
	cmd.Flags().BoolVar(&records, "records", false, "also print the receipt's records as OTLP JSON, one per line")
	return cmd
}

func printRecords(w io.Writer, scroll string, r *receipts.Receipt) error {
	leaves, err := receipts.ReceiptLeaves(scroll, r)
	var removed *receipts.RemovedError
	if errors.As(err, &removed) {
		return fmt.Errorf("%s: %w", scroll, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(scroll, r.StoragePath), err)
	}
	for i, leaf := range leaves {
		var js []byte
		switch r.Type {
		case receipts.TypeLogBatch, receipts.TypeAlertFired, receipts.TypeAlertResolved:
			ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(leaf)
			if err == nil {
				js, err = (&plog.JSONMarshaler{}).MarshalLogs(ld)
			}
			if err != nil {
				return fmt.Errorf("record %d: %w", i, err)
			}
		case receipts.TypeMetricSnapshot:
			md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(leaf)
			if err == nil {
				js, err = (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
			}
			if err != nil {
				return fmt.Errorf("record %d: %w", i, err)
			}
		default:
			td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(leaf)
			if err == nil {
				js, err = (&ptrace.JSONMarshaler{}).MarshalTraces(td)
			}
			if err != nil {
				return fmt.Errorf("record %d: %w", i, err)
			}
		}
		if _, err := fmt.Fprintf(w, "%s\n", js); err != nil {
			return err
		}
	}
	return nil
}
