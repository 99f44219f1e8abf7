"""Repacks lava-dl v0.6.0's PilotNet LIF traces (tests/lava/lib/dl/netx/gts/pilotnet_lif/)
into the compact arrays of this folder; values unchanged. Python 3 standard library only.

usage: python3 repack.py <folder with lava-dl's .npy files> <output folder>

Every output holds the trace in the order (neuron in Lava's C order over the layer's shape,
timestep index): lava-dl's conv traces are already C-ordered (x, y, c, t); its fc traces are
Fortran-ordered (n, t) and are rewritten in C order.
- `<name>.bits.npy` (u8): a spike trace, one bit per value, least significant bit first.
- `<name>.table.npy` (i32) and `<name>.idx.npy` (u8): a `u` trace as the sorted distinct
  values and, per value, its index in the table.
- `image.npy` (u8): the image (x, y, c), lava-dl's int32 values (1 to 76).
- `<name>.npy` (i16 or i32): a `v` trace, or fc-3's three 1 x 25 float64 traces as i32
  (every value is an integer).
"""
import array
import ast
import os
import struct
import sys


def load(path):
    b = open(path, 'rb').read()
    assert b[:6] == b'\x93NUMPY', path
    if b[6] == 1:
        hl, off = struct.unpack('<H', b[8:10])[0], 10
    else:
        hl, off = struct.unpack('<I', b[8:12])[0], 12
    h = ast.literal_eval(b[off:off + hl].decode())
    code = {'<f8': 'd', '<i4': 'i', '|b1': 'B'}[h['descr']]
    a = array.array(code)
    a.frombytes(b[off + hl:])
    shape = h['shape']
    if h['fortran_order'] and len(shape) == 2:
        n, t = shape
        a = array.array(code, [a[j * n + i] for i in range(n) for j in range(t)])
    return shape, list(a)


def save(path, descr, shape, data_bytes):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (
        descr, repr(tuple(shape)))
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + ' ' * pad + '\n'
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(header)))
        f.write(header.encode())
        f.write(data_bytes)


def main(src, dst):
    layers = ['input'] + [f'conv-{i}' for i in range(5)] + [f'fc-{i}' for i in range(3)]
    for name in layers:
        shape, s = load(os.path.join(src, name + '.npy'))
        assert set(s) <= {0, 1}
        packed = bytearray((len(s) + 7) // 8)
        for i, x in enumerate(s):
            packed[i // 8] |= x << (i % 8)
        save(os.path.join(dst, name + '.bits.npy'), '|u1', [len(packed)], bytes(packed))
        for var in ['u', 'v']:
            path = os.path.join(src, f'{name}-{var}.npy')
            if not os.path.exists(path) or (name, var) in DROPPED:
                continue
            shape, a = load(path)
            if var == 'u':
                table = sorted(set(a))
                assert len(table) <= 256
                at = {x: i for i, x in enumerate(table)}
                save(os.path.join(dst, f'{name}-u.table.npy'), '<i4', [len(table)],
                     array.array('i', table).tobytes())
                save(os.path.join(dst, f'{name}-u.idx.npy'), '|u1', [len(a)],
                     bytes(at[x] for x in a))
            else:
                assert all(-32768 <= x < 32768 for x in a)
                save(os.path.join(dst, f'{name}-v.npy'), '<i2', [len(a)],
                     array.array('h', a).tobytes())
    shape, a = load(os.path.join(src, 'image.npy'))
    assert all(0 <= x < 256 for x in a)
    save(os.path.join(dst, 'image.npy'), '|u1', shape, bytes(a))
    for var in ['s', 'u', 'v']:
        shape, a = load(os.path.join(src, f'fc-3-{var}.npy'))
        assert all(x == int(x) for x in a)
        save(os.path.join(dst, f'fc-3-{var}.npy'), '<i4', shape,
             array.array('i', [int(x) for x in a]).tobytes())


# Left out to keep the folder under 3 MB (1.27 MB as i16).
DROPPED = {('conv-1', 'v')}

if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
