#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seed inputs built from the shipped files, in the input layout
# each target expects (see the top of fuzz/fuzz_targets/<target>.rs). Idempotent; needs bash and
# python3 (standard library only). Run from anywhere: fuzz/seed.sh
#
# Optional: LOISIM=/path/to/loisim adds small generated model.bin seeds (`loisim gen`); without
# it, target/debug/loisim or target/release/loisim is used when present.
set -euo pipefail

fuzz="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$fuzz")"
corpus="$fuzz/corpus"
data="$root/tests/data/fxp-s5"
mkdir -p "$corpus"/{model_bin,export_v1,checkpoint,npy,wav,chip_toml,differential,net_differential,netx,activity}

# u32 little-endian length of a file, as raw bytes.
u32le() {
    local n
    n=$(stat -c %s "$1")
    printf "\\x$(printf %02x $((n & 255)))\\x$(printf %02x $(((n >> 8) & 255)))\\x$(printf %02x $(((n >> 16) & 255)))\\x$(printf %02x $(((n >> 24) & 255)))"
}

# model_bin: mode byte (1 = recompute length and CRC, 0 = as is) + model.bin.
for m in s5-sparse-0.25x s5-dense-0.25x s5-sparse-1x; do
    { printf '\x01'; cat "$root/models/$m.bin"; } >"$corpus/model_bin/$m"
done
{ printf '\x00'; cat "$root/models/s5-sparse-0.25x.bin"; } >"$corpus/model_bin/s5-sparse-0.25x-raw"
loisim="${LOISIM:-}"
for cand in "$root/target/release/loisim" "$root/target/debug/loisim"; do
    if [[ -z "$loisim" && -x "$cand" ]]; then loisim="$cand"; fi
done
if [[ -n "$loisim" ]]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    for args in "0.0625 1 0.5 erk 1" "0.0625 2 0.9 uniform 2" "0.125 1 0.0 erk 3"; do
        read -r w l s d seed <<<"$args"
        out="$tmp/gen-w$w-l$l-s$s-$d.bin"
        "$loisim" gen --width "$w" --layers "$l" --sparsity "$s" --distribution "$d" \
            --seed "$seed" -o "$out" >/dev/null
        { printf '\x01'; cat "$out"; } >"$corpus/model_bin/$(basename "$out" .bin)"
    done
else
    echo "seed.sh: no loisim binary (set LOISIM=...); skipping generated model.bin seeds" >&2
fi

# export_v1: u32le(len model.json) + model.json + model.safetensors.
for c in w025-plausible-s100 w025-stress-s101; do
    { u32le "$data/$c/model.json"; cat "$data/$c/model.json" "$data/$c/model.safetensors"; } \
        >"$corpus/export_v1/$c"
done

# checkpoint: mode byte (bit 0: .npz, bit 1: no qconfig) + u32le(len checkpoint) + checkpoint +
# qconfig JSON. The .npz checkpoints are converted from the safetensors ones below.
for c in w025-plausible-s100 w025-stress-s101; do
    st="$data/$c/float_model.safetensors"
    q="$data/$c/upstream_qconfig.json"
    { printf '\x00'; u32le "$st"; cat "$st" "$q"; } >"$corpus/checkpoint/$c-st-qconfig"
    { printf '\x02'; u32le "$st"; cat "$st"; } >"$corpus/checkpoint/$c-st-derived"
done

python3 - "$root" "$corpus" <<'EOF'
import io, json, struct, sys, wave, zipfile
root, corpus = sys.argv[1], sys.argv[2]
data = f"{root}/tests/data/fxp-s5"

def npy(descr, shape, payload):
    shape_s = "(" + "".join(f"{d}, " for d in shape) + ")"
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_s)
    h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + payload

def safetensors_to_npz(path, deflate):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    descr = {"F32": "<f4", "F64": "<f8", "I8": "|i1", "I16": "<i2", "I32": "<i4", "I64": "<i8"}
    buf = io.BytesIO()
    mode = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", mode) as z:
        for name, t in header.items():
            if name == "__metadata__":
                continue
            a, b = t["data_offsets"]
            z.writestr(name + ".npy", npy(descr[t["dtype"]], t["shape"], body[a:b]))
    return buf.getvalue()

# checkpoint, .npz form (mode 1 with the qconfig, mode 3 derived).
for c in ["w025-plausible-s100", "w025-stress-s101"]:
    z = safetensors_to_npz(f"{data}/{c}/float_model.safetensors", deflate=(c.endswith("s100")))
    q = open(f"{data}/{c}/upstream_qconfig.json", "rb").read()
    open(f"{corpus}/checkpoint/{c}-npz-qconfig", "wb").write(b"\x01" + struct.pack("<I", len(z)) + z + q)
    open(f"{corpus}/checkpoint/{c}-npz-derived", "wb").write(b"\x03" + struct.pack("<I", len(z)) + z)

# npy: mode byte (0 = .npy, 1 = .npz) + file. The shipped input, cut to 4 tokens; the golden
# outputs (int32 [32, 257]); an int16 input; an .npz holding inputs; a Fortran-order array.
inp = open(f"{root}/models/default-input.npy", "rb").read()
hl = struct.unpack("<H", inp[8:10])[0]
body = inp[10 + hl:10 + hl + 4 * 257 * 4]
small = npy("<f4", [4, 257], body)
open(f"{corpus}/npy/input-4-tokens", "wb").write(b"\x00" + small)
for m in ["s5-sparse-0.25x", "s5-dense-1x"]:
    open(f"{corpus}/npy/golden-{m}", "wb").write(b"\x00" + open(f"{root}/tests/data/golden/{m}.npy", "rb").read())
ints = npy("<i2", [2, 257], struct.pack("<514h", *[(k * 37) % 2000 - 1000 for k in range(514)]))
open(f"{corpus}/npy/int16-2-tokens", "wb").write(b"\x00" + ints)
fortran = npy("<f4", [4, 257], body).replace(b"'fortran_order': False", b"'fortran_order': True ")
open(f"{corpus}/npy/fortran-order", "wb").write(b"\x00" + fortran)
for deflate in [False, True]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        z.writestr("input.npy", small)
        z.writestr("ints.npy", ints)
    open(f"{corpus}/npy/npz-{'deflated' if deflate else 'stored'}", "wb").write(b"\x01" + buf.getvalue())

# wav: the shipped clips cut to 4096 samples (valid headers), and a raw 4 KiB prefix (header
# declaring more samples than present).
for c in ["clean", "noisy"]:
    path = f"{root}/models/default-clip-{c}.wav"
    with wave.open(path, "rb") as r:
        params = r.getparams()
        frames = r.readframes(4096)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setparams(params)
        w.writeframes(frames)
    open(f"{corpus}/wav/clip-{c}-4096", "wb").write(buf.getvalue())
open(f"{corpus}/wav/clip-clean-prefix", "wb").write(open(f"{root}/models/default-clip-clean.wav", "rb").read()[:4096])
EOF

# chip_toml: the presets (loihi2.toml without `extends`, the others extend it) and small edits.
cp "$root"/crates/loisim-arch/chips/*.toml "$corpus/chip_toml/"
printf 'extends = "loihi2"\n' >"$corpus/chip_toml/extends-loihi2"
printf 'extends = "kapoho-point"\nname = "x"\n[mesh]\nrouters_x = { value = 2, source = "s" }\n' \
    >"$corpus/chip_toml/small-mesh"

# differential: the bytes only draw parameters; a few fixed patterns.
head -c 64 /dev/zero >"$corpus/differential/zeros"
head -c 64 /dev/zero | tr '\0' '\377' >"$corpus/differential/ones"
printf '\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20' \
    >"$corpus/differential/counting"

# netx: the smallest shipped lava-dl .net file (the PilotNet ones are over a MB).
cp "$root"/crates/loisim-netx/tests/data/tiny.net "$corpus/netx/"

# activity: small recorded runs (S5, 8 tokens; netx, 4 steps), when a loisim binary is at hand.
if [[ -n "$loisim" ]]; then
    "$loisim" run "$root/models/s5-sparse-0.25x.bin" --tokens 8 --quiet --activity "$corpus/activity/s5-8-tokens.act" >/dev/null
    "$loisim" run "$root/crates/loisim-netx/tests/data/tiny.net" --bias "$root/crates/loisim-netx/tests/data/gts/tinynet/input_bias.npy" \
        --steps 4 --activity "$corpus/activity/tiny-4-steps.act" >/dev/null
fi

# net_differential: likewise.
cp "$corpus"/differential/* "$corpus/net_differential/"

for t in "$corpus"/*/; do
    printf '%-14s %3d files, largest %d bytes\n' "$(basename "$t")" "$(ls "$t" | wc -l)" \
        "$(find "$t" -type f -printf '%s\n' | sort -n | tail -1)"
done
