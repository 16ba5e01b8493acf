// Package durablelog is the gateway's durable log: every acknowledged OTLP request is appended once to a
// segmented log on disk, made durable by a group commit, and read by several consumers through named cursors.
//
// # Appending
//
// Append is safe for concurrent use. Appends that arrive while a commit is in flight form the next group, which
// is written with one write and made durable with one fsync; every Append returns only after the fsync of its
// group. Sequence numbers are contiguous from 1 and assigned at commit; Arrival is the commit time in Unix ns,
// strictly increasing along the log (max(now, previous+1)).
//
// A record with a key is written at most once: if the key is in a retained entry, in the same group, or in the
// key index of a reclaimed segment younger than Options.KeyRetention, Append returns dup=true and the original
// sequence number instead of writing.
//
// A failed write or fsync fails every append of its group; the segment is cut back to its size before the
// group and closed, and the next group starts a fresh segment (a file is never trusted after a failed fsync).
//
// # Files
//
//	Dir/LOCK                     exclusive flock held by the process that has the log open
//	Dir/<first seq %020d>.log    segments, named by the sequence number of their first entry
//	Dir/<first seq %020d>.keys   key index of a reclaimed segment, kept until KeyRetention after its last arrival
//	Dir/cursors/<name>           committed position of a cursor ('/' in the name is stored as '%')
//	Dir/gaps                     sequence ranges already reported lost and salvaged ("after before" per line)
//	Dir/damaged/                 bytes cut out of segments (torn tails and corrupt ranges) and damaged key indexes
//
// # Frame format
//
// A segment is a sequence of frames; all integers are little-endian:
//
//	offset  size  field
//	0       4     magic 0x474C4654 ("TFLG" read as bytes), lets a scanner resynchronise after damage
//	4       4     length L of the body (bytes 12 … 12+L), 18 ≤ L ≤ MaxFrameBody
//	8       4     CRC-32C (Castagnoli) over bytes 0…7 (magic and length) followed by the body
//	12      8     body: seq (u64)
//	20      8     arrival (i64, Unix ns)
//	28      1     type (u8, the caller's record type)
//	29      1     flags (u8): bit 0 = a 16-byte key follows; other bits must be 0
//	30      16    key (only when flags bit 0 is set)
//	30/46   …     payload (the rest of the body)
//
// Key index (.keys) and cursor files end with a CRC-32C of everything before it. A key index is magic "TFLK",
// u32 count, then count × (16-byte key, u64 seq, i64 arrival), then the CRC. A cursor file is u64 committed
// (the next seq to deliver) followed by the CRC.
//
// # Recovery
//
// Open scans every segment. A frame is valid when its magic, length and CRC check out and its seq is greater than
// the previous valid seq and below the name of the next segment. Bytes that are not valid frames form a damaged
// range; the scanner resynchronises on the next valid frame. A damaged range at the end of the newest segment,
// with no valid frame after it, is a torn tail left by a crash: its bytes are copied to Dir/damaged/ and cut.
// Any other damaged range is corruption: it is reported with the sequence numbers around it and the exact number
// of entries lost (seqs are contiguous), and with PolicySalvage its bytes are copied to Dir/damaged/ and the
// segment is rewritten with only its intact frames; with PolicyFail Open refuses with ErrCorrupt. A jump in seqs
// with no damaged bytes (a segment deleted by hand) is reported as damage too. Check reports the same without
// changing anything; Repair salvages.
package durablelog
