#!/bin/sh
# gpu_emu.test.sh - the cellar command with --backend cuda where there is no
# GPU: tests/cellar-emu is cellar built over the CPU stand-ins of the CUDA
# runtime, cuDNN and cuBLAS (tests/kemu), with the CUDA backend's own files
# and kernels.  It runs what a GPU session runs first (bench, its profile,
# train, a search with several trials at once on one device) and must give
# the CPU's results, so the paths between the command line and the device
# are checked before a GPU is lent.  cellar-emu is built where configure
# finds a C++ compiler and CUDA (whose backend it runs); skips elsewhere.
# With CELLAR_TEST_SHORT (the sanitizer builds) only one bench and the search.
B=${CELLAR_BUILDDIR:-.}
EMU=$(cd "$B" && pwd)/tests/cellar-emu
CELLAR=${CELLAR:-./cellar}
CELLAR=$(cd "$(dirname "$CELLAR")" && pwd)/$(basename "$CELLAR")
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

if [ ! -x "$EMU" ]; then
  echo "skip - no tests/cellar-emu (built where configure finds a C++ compiler and CUDA)"
  exit 77
fi
cd "$tmp" || exit 1

# --- bench ---
small="--N 1 --F 4 --batch 4 --input 8x8x3 --steps 1 --warmup 1"
"$EMU" bench --backend cuda $small >bench.out 2>bench.err; rc=$?
check "bench --backend cuda exits 0 with one JSON line" sh -c "[ $rc -eq 0 ] && [ \$(wc -l <bench.out) -eq 1 ]"
check "... on the cuda backend, its step recorded as a graph" sh -c "[ '$(jget bench.out backend)' = cuda ] && [ '$(jget bench.out graph)' = True ]"
check "... saying how it computes: $(jget bench.out engine)" [ "$(jget bench.out engine)" = "depthwise own, pointwise mixed, separable fused, tf32" ]
check "... holding $(jget bench.out graph_nodes) operations (graph_nodes)" $PY -c "import sys; sys.exit(not 0 < int(sys.argv[1]) < 2000)" "$(jget bench.out graph_nodes)"
check "... with a positive img_s ($(jget bench.out img_s))" $PY -c "import sys; sys.exit(not float(sys.argv[1]) > 0)" "$(jget bench.out img_s)"
"$CELLAR" bench --backend cpu $small --threads 1 >cpu.out 2>/dev/null
check "... and the CPU's parameter count and FLOPs" sh -c "[ '$(jget bench.out params)' = '$(jget cpu.out params)' ] && [ '$(jget bench.out flops)' = '$(jget cpu.out flops)' ]"
# CELLAR_TEST_SHORT (the sanitizer builds): the default bench and the search only
if [ -z "${CELLAR_TEST_SHORT:-}" ]; then
CELLAR_CUDA_GRAPH=0 "$EMU" bench --backend cuda $small >plain.out 2>/dev/null; rc=$?
check "CELLAR_CUDA_GRAPH=0: bench runs its steps op by op (graph false)" sh -c "[ $rc -eq 0 ] && [ '$(jget plain.out graph)' = False ]"
CELLAR_POINTWISE=own CELLAR_DEPTHWISE=cudnn "$EMU" bench --backend cuda $small >other.out 2>/dev/null; rc=$?
check "CELLAR_POINTWISE=own CELLAR_DEPTHWISE=cudnn: bench runs and says so" sh -c "[ $rc -eq 0 ] && [ '$(jget other.out engine)' = 'depthwise cudnn, pointwise own, separable split, tf32' ]"
# the default reads the pointwise convolutions' ReLU and shifted inputs in
# place (own kernels); all through cuDNN they are staged first, and back
KEMU_TRACE=2 "$EMU" bench --backend cuda $small >mixed.out 2>mixed.err
check "KEMU_TRACE=2: the stand-in writes each launch's shape (grid and block)" \
  grep -Eq '^kemu: launch sep_fwd_k<[0-9]+> grid [1-9][0-9]* [1-9][0-9]* 1 block [1-9][0-9]*$' mixed.err
CELLAR_POINTWISE=cudnn KEMU_TRACE=1 "$EMU" bench --backend cuda $small >dnn.out 2>dnn.err; rc=$?
check "CELLAR_POINTWISE=cudnn: bench runs and says so" sh -c "[ $rc -eq 0 ] && [ '$(jget dnn.out engine)' = 'depthwise own, pointwise cudnn, separable split, tf32' ]"
check "... staging inputs (conv_stage_in_k, conv_stage_grad_k) the default (pointwise mixed) never stages" \
  sh -c "grep -q 'conv_stage_in_k [1-9]' dnn.err && grep -q 'conv_stage_grad_k [1-9]' dnn.err && grep -q '^kemu: a capture' mixed.err && ! grep -q conv_stage mixed.err"
check "... so the default's step holds fewer operations ($(jget mixed.out graph_nodes) against $(jget dnn.out graph_nodes))" \
  sh -c "[ '$(jget mixed.out graph_nodes)' -lt '$(jget dnn.out graph_nodes)' ]"
# the default runs a separable layer's depthwise and pointwise forward as
# one kernel; CELLAR_SEPARABLE=split as two
CELLAR_SEPARABLE=split KEMU_TRACE=1 "$EMU" bench --backend cuda $small >split.out 2>split.err; rc=$?
check "CELLAR_SEPARABLE=split: bench runs and says so" sh -c "[ $rc -eq 0 ] && [ '$(jget split.out engine)' = 'depthwise own, pointwise mixed, separable split, tf32' ]"
check "... its forward halves apart, which the default runs as one kernel (sep_fwd_k)" \
  sh -c "grep -Eq 'sep_fwd_k<[0-9]+> [1-9]' mixed.err && grep -q '^kemu: a capture' split.err && ! grep -q sep_fwd_k split.err"
check "... so the default's step holds fewer operations ($(jget mixed.out graph_nodes) against $(jget split.out graph_nodes))" \
  sh -c "[ '$(jget mixed.out graph_nodes)' -lt '$(jget split.out graph_nodes)' ]"
# the default's fused backward takes the pointwise filter gradient too
# (from x: the forward writes no depthwise output); =keep-mid leaves that
# to cuDNN, from the depthwise output the forward then writes
CELLAR_SEPARABLE=keep-mid KEMU_TRACE=1 "$EMU" bench --backend cuda $small >keep.out 2>keep.err; rc=$?
check "CELLAR_SEPARABLE=keep-mid: bench runs and says so" sh -c "[ $rc -eq 0 ] && [ '$(jget keep.out engine)' = 'depthwise own, pointwise mixed, separable fused, depthwise output kept, tf32' ]"
bwf() { grep -m1 -o 'cudnnConvolutionBackwardFilter [0-9]*' "$1" | awk '{n = $2} END {print n + 0}'; }
check "... its pointwise filter gradients by cuDNN ($(bwf keep.err) calls), which the default's fused backward takes ($(bwf mixed.err) left)" \
  sh -c "[ '$(bwf keep.err)' -gt '$(bwf mixed.err)' ]"
check "... so the default's step holds fewer operations ($(jget mixed.out graph_nodes) against $(jget keep.out graph_nodes))" \
  sh -c "[ '$(jget mixed.out graph_nodes)' -lt '$(jget keep.out graph_nodes)' ]"
# and its backward as one (sep_bwd_k, the stride-2 layers too); =forward keeps
# the fused forward only
CELLAR_SEPARABLE=forward KEMU_TRACE=1 "$EMU" bench --backend cuda $small >sepf.out 2>sepf.err; rc=$?
check "CELLAR_SEPARABLE=forward: bench runs and says so" sh -c "[ $rc -eq 0 ] && [ '$(jget sepf.out engine)' = 'depthwise own, pointwise mixed, separable forward, tf32' ]"
check "... its forward fused (sep_fwd_k), its backward apart, which the default runs as one (sep_bwd_k and its kinds)" \
  sh -c "grep -Eq 'sep_bwd_(bn_|dy_|bn_dy_)?k<[0-9]+> [1-9]' mixed.err && grep -Eq 'sep_fwd_k<[0-9]+> [1-9]' sepf.err && ! grep -q sep_bwd_ sepf.err && ! grep -q sep_bwd_ split.err"
check "... so the default's step holds fewer operations ($(jget mixed.out graph_nodes) against $(jget sepf.out graph_nodes))" \
  sh -c "[ '$(jget mixed.out graph_nodes)' -lt '$(jget sepf.out graph_nodes)' ]"
# the batch norm after a separable layer or a pointwise convolution of
# ours takes its statistics from that forward kernel (bn_norm_parts_k: no
# pass over its input of its own); CELLAR_BN_STATS=apart takes them itself
# (bn_fwd_train_k), and with the separable layers split only those after
# the pointwise convolutions that read through ReLU take them
CELLAR_BN_STATS=apart KEMU_TRACE=1 "$EMU" bench --backend cuda $small >bnst.out 2>bnst.err; rc=$?
check "CELLAR_BN_STATS=apart: bench runs and says so" sh -c "[ $rc -eq 0 ] && [ '$(jget bnst.out engine)' = 'depthwise own, pointwise mixed, separable fused, batch-norm statistics apart, tf32' ]"
parts_of() { grep '^kemu: a capture' "$1" | sed -n 's/.*bn_norm_parts_k \([0-9][0-9]*\).*/\1/p' | head -n 1; }
check "... every batch norm taking its own statistics, where the default takes $(parts_of mixed.err) from the kernels that wrote their input ($(parts_of split.err) with the separable layers split)" \
  sh -c "grep -q '^kemu: a capture' bnst.err && ! grep -q bn_norm_parts_k bnst.err && [ '$(parts_of split.err)' -gt 0 ] && [ '$(parts_of mixed.err)' -gt '$(parts_of split.err)' ]"
# in the backward, the batch norm between a separable layer's two halves
# takes the sums of dy it needs from the second half's fused backward,
# which gave them as it wrote dy (bn_bwd_parts_k), where a batch norm split
# over the batch (16x16 here) otherwise adds them in a kernel of its own
# (bn_bwd_sums_k, then bn_bwd_apply_k); CELLAR_BN_STATS=forward keeps the
# forward's statistics only.  Both with CELLAR_BN_DX=apart, where the batch
# norms' backward writes dx, so that only the sums tell them apart
bnb="--N 1 --F 4 --batch 8 --input 16x16x3 --steps 1 --warmup 1"
CELLAR_BN_DX=apart KEMU_TRACE=1 "$EMU" bench --backend cuda $bnb >bnb.out 2>bnb.err; rc=$?
CELLAR_BN_DX=apart CELLAR_BN_STATS=forward KEMU_TRACE=1 "$EMU" bench --backend cuda $bnb >bnbf.out 2>bnbf.err; rcf=$?
check "CELLAR_BN_STATS=forward: bench runs and says so" sh -c "[ $rc -eq 0 ] && [ $rcf -eq 0 ] && [ '$(jget bnbf.out engine)' = 'depthwise own, pointwise mixed, separable fused, batch-norm statistics fused forward, tf32' ]"
count_of() { grep '^kemu: a capture' "$2" | sed -n "s/.*[:,] $1 \([0-9][0-9]*\).*/\1/p" | head -n 1; }
count0() { n=$(count_of "$1" "$2"); echo "${n:-0}"; }
check "... the default's backward batch norms between separable halves take dy's sums from the fused backward ($(count0 bn_bwd_parts_k bnb.err) of them), =forward's none" \
  sh -c "[ '$(count0 bn_bwd_parts_k bnb.err)' -gt 0 ] && grep -q '^kemu: a capture' bnbf.err && ! grep -q bn_bwd_parts_k bnbf.err"
check "... so fewer batch norms split over the batch add up dy themselves ($(count_of bn_bwd_sums_k bnb.err) against $(count_of bn_bwd_sums_k bnbf.err)), and the step holds fewer operations ($(jget bnb.out graph_nodes) against $(jget bnbf.out graph_nodes))" \
  sh -c "[ '$(count_of bn_bwd_sums_k bnb.err)' -lt '$(count_of bn_bwd_sums_k bnbf.err)' ] && [ '$(jget bnb.out graph_nodes)' -lt '$(jget bnbf.out graph_nodes)' ]"
# the batch norms after separable ops' second layers, split over the
# batch here, make their factors in the launch that sums dy, by the block
# that sums each channel's last range (bn_bwd_sums_factors_k);
# CELLAR_BN_FACTORS=apart: a launch to sum (bn_bwd_sums_k), one to finish
# (bn_bwd_factors_k)
KEMU_TRACE=1 "$EMU" bench --backend cuda $bnb >bnf.out 2>bnf.err; rc=$?
CELLAR_BN_FACTORS=apart KEMU_TRACE=1 "$EMU" bench --backend cuda $bnb >bnfa.out 2>bnfa.err; rca=$?
check "CELLAR_BN_FACTORS: the default makes $(count0 bn_bwd_sums_factors_k bnf.err) batch norms' factors in the launches that sum dy, =apart in launches of their own, as many operations more ($(jget bnfa.out graph_nodes) against $(jget bnf.out graph_nodes))" \
  sh -c "[ $rc -eq 0 ] && [ $rca -eq 0 ] && [ '$(count0 bn_bwd_sums_factors_k bnf.err)' -gt 0 ] && ! grep -q bn_bwd_sums_factors_k bnfa.err && [ '$(jget bnfa.out graph_nodes)' -eq \$(( $(jget bnf.out graph_nodes) + $(count0 bn_bwd_sums_factors_k bnf.err) )) ]"
CELLAR_BN_FACTORS=both "$EMU" bench --backend cuda $small >bad.out 2>bad.err; rc=$?
check "CELLAR_BN_FACTORS=both is refused, naming what it takes" sh -c "[ $rc -ne 0 ] && grep -q 'CELLAR_BN_FACTORS=both: expected fused or apart' bad.err"
CELLAR_BN_STATS=both "$EMU" bench --backend cuda $small >bad.out 2>bad.err; rc=$?
check "CELLAR_BN_STATS=both is refused, naming what it takes" sh -c "[ $rc -ne 0 ] && grep -q 'expected fused, forward or apart' bad.err"
# the reduction cells' stride-2 layers' backward as one too (dmid spread
# out); =stride-1 runs theirs apart, as four operations, two of them cuDNN's
CELLAR_SEPARABLE=stride-1 KEMU_TRACE=1 "$EMU" bench --backend cuda $small >s1.out 2>s1.err; rc=$?
check "CELLAR_SEPARABLE=stride-1: bench runs and says so" sh -c "[ $rc -eq 0 ] && [ '$(jget s1.out engine)' = 'depthwise own, pointwise mixed, separable fused, stride-2 backward apart, tf32' ]"
bwd_data() { grep -m1 -o 'cudnnConvolutionBackwardData [0-9]*' "$1" | awk '{n = $2} END {print n + 0}'; }
check "... its stride-2 layers' pointwise data gradients by cuDNN ($(bwd_data s1.err) calls), which the default's fused backward takes ($(bwd_data mixed.err) left), in fewer operations ($(jget mixed.out graph_nodes) against $(jget s1.out graph_nodes))" \
  sh -c "[ '$(bwd_data s1.err)' -gt 0 ] && [ '$(bwd_data mixed.err)' -eq 0 ] && [ '$(jget mixed.out graph_nodes)' -lt '$(jget s1.out graph_nodes)' ]"
# identity ops that copy a cell's preprocessed input, folded into the batch
# norm writing it (a second output); CELLAR_IDENTITY=copy copies them
CELLAR_IDENTITY=copy KEMU_TRACE=1 "$EMU" bench --backend cuda $small >idc.out 2>idc.err; rc=$?
check "CELLAR_IDENTITY=copy: bench runs, folding none (identity_folds $(jget idc.out identity_folds), the default's $(jget mixed.out identity_folds): each normal cell's two)" \
  sh -c "[ $rc -eq 0 ] && [ '$(jget idc.out identity_folds)' = 0 ] && [ '$(jget mixed.out identity_folds)' = 6 ]"
check "... so it copies more ($(count_of scale_copy_k idc.err) copies against $(count_of scale_copy_k mixed.err)) in more operations ($(jget idc.out graph_nodes) against $(jget mixed.out graph_nodes))" \
  sh -c "[ '$(count_of scale_copy_k idc.err)' -eq \$(( $(count_of scale_copy_k mixed.err) + 12 )) ] && [ '$(jget idc.out graph_nodes)' -eq \$(( $(jget mixed.out graph_nodes) + 12 )) ]"
# the normal cells' avg_pool_3x3(0) avg_pool_3x3(0) add as one pool scaled
# by both paths' drop-path scales; CELLAR_TWINS=apart runs two
CELLAR_TWINS=apart KEMU_TRACE=1 "$EMU" bench --backend cuda $small >twa.out 2>twa.err; rc=$?
check "CELLAR_TWINS=apart: bench runs, merging none (twin_pools $(jget twa.out twin_pools), the default's $(jget mixed.out twin_pools): one in each normal cell)" \
  sh -c "[ $rc -eq 0 ] && [ '$(jget twa.out twin_pools)' = 0 ] && [ '$(jget mixed.out twin_pools)' = 3 ]"
check "... so it pools more (3x3 stride 1: $(count_of "pool_fwd_k<31>" twa.err) forward, $(count_of "pool_bwd_k<31>" twa.err) backward, against $(count_of "pool_fwd_k<31>" mixed.err) and $(count_of "pool_bwd_k<31>" mixed.err)) in more operations ($(jget twa.out graph_nodes) against $(jget mixed.out graph_nodes))" \
  sh -c "[ '$(count_of "pool_fwd_k<31>" twa.err)' -eq \$(( $(count_of "pool_fwd_k<31>" mixed.err) + 3 )) ] && [ '$(count_of "pool_bwd_k<31>" twa.err)' -eq \$(( $(count_of "pool_bwd_k<31>" mixed.err) + 3 )) ] && [ '$(jget twa.out graph_nodes)' -eq \$(( $(jget mixed.out graph_nodes) + 6 )) ]"
# the batch norm between a separable op's two layers applied by the second
# layer's kernels as they read (only its scale and shift made, its output
# never written); CELLAR_BN_APPLY=apart writes it
CELLAR_BN_APPLY=apart KEMU_TRACE=1 "$EMU" bench --backend cuda $small >bna.out 2>bna.err; rc=$?
check "CELLAR_BN_APPLY=apart: bench runs, applying none in the next op (bn_applied $(jget bna.out bn_applied), the default's $(jget mixed.out bn_applied))" \
  sh -c "[ $rc -eq 0 ] && [ '$(jget bna.out bn_applied)' = 0 ] && [ '$(jget mixed.out bn_applied)' -gt 0 ]"
check "... each such batch norm there normalising ($(count_of bn_norm_parts_k bna.err) bn_norm_parts_k against $(count_of bn_norm_parts_k mixed.err)) where the default only makes its scale and shift ($(count_of bn_affine_parts_k mixed.err) bn_affine_parts_k) and the separable kernels apply it (sep_fwd_bn_k, sep_bwd_bn_k or sep_bwd_bn_dy_k), in as many operations ($(jget bna.out graph_nodes))" \
  sh -c "grep -q 'sep_fwd_bn_k<' mixed.err && grep -q 'sep_bwd_bn_k<\\|sep_bwd_bn_dy_k<' mixed.err && ! grep -q '_bn_k<\\|_bn_dy_k<' bna.err && [ '$(count_of bn_norm_parts_k bna.err)' -eq \$(( $(count_of bn_norm_parts_k mixed.err) + $(jget mixed.out bn_applied) )) ] && [ '$(count_of bn_affine_parts_k mixed.err)' = '$(jget mixed.out bn_applied)' ] && ! grep -q bn_affine_parts_k bna.err && [ '$(jget bna.out graph_nodes)' = '$(jget mixed.out graph_nodes)' ]"
# and that batch norm and the one after the op's second layer back-
# propagated through by the layer before them as its backward kernel
# reads (sep_bwd_dy_k, sep_bwd_bn_dy_k: the batch norm's dx made from its
# dy and input with the factors bn_bwd_factors_k or bn_bwd_factors_dy_k
# gives, never written); CELLAR_BN_DX=apart writes it (bn_bwd_parts_k,
# bn_bwd_k, bn_bwd_apply_k) and the layer reads it back
CELLAR_BN_DX=apart KEMU_TRACE=1 "$EMU" bench --backend cuda $small >bnd.out 2>bnd.err; rc=$?
check "CELLAR_BN_DX=apart: bench runs, back-propagating through none in the op before (bn_dx_fused $(jget bnd.out bn_dx_fused), the default's $(jget mixed.out bn_dx_fused): two in each of the 5 cells' 5 separable ops)" \
  sh -c "[ $rc -eq 0 ] && [ '$(jget bnd.out bn_dx_fused)' = 0 ] && [ '$(jget mixed.out bn_dx_fused)' = 50 ]"
dx_writers() { echo $(( $(count0 bn_bwd_parts_k "$1") + $(count0 bn_bwd_k "$1") + $(count0 bn_bwd_apply_k "$1") )); }
factors() { echo $(( $(count0 bn_bwd_factors_k "$1") + $(count0 bn_bwd_factors_dy_k "$1") + $(count0 bn_bwd_sums_factors_k "$1") )); }
check "... each such batch norm writing dx there ($(dx_writers bnd.err) kernels writing a batch norm's dx against $(dx_writers mixed.err)) where the default makes only its factors ($(factors mixed.err) bn_bwd_factors_k and bn_bwd_factors_dy_k) and the separable layers read through them (sep_bwd_dy_k, sep_bwd_bn_dy_k), in as many operations ($(jget bnd.out graph_nodes))" \
  sh -c "grep -q 'sep_bwd_dy_k<' mixed.err && grep -q 'sep_bwd_bn_dy_k<' mixed.err && ! grep -q 'sep_bwd_dy_k\|sep_bwd_bn_dy_k\|bn_bwd_factors\|bn_bwd_sums_factors' bnd.err && [ '$(dx_writers bnd.err)' -eq \$(( $(dx_writers mixed.err) + $(jget mixed.out bn_dx_fused) )) ] && [ '$(factors mixed.err)' = '$(jget mixed.out bn_dx_fused)' ] && [ '$(jget bnd.out graph_nodes)' = '$(jget mixed.out graph_nodes)' ]"
# =inner: only those whose dy's sums the second layer took (between the
# layers), the ones after taking them in a pass of their own as ever
CELLAR_BN_DX=inner KEMU_TRACE=1 "$EMU" bench --backend cuda $small >bni.out 2>bni.err; rc=$?
check "CELLAR_BN_DX=inner: bench runs, back-propagating through the 25 between separable layers (bn_dx_fused $(jget bni.out bn_dx_fused)), from given sums alone ($(count0 bn_bwd_factors_k bni.err) bn_bwd_factors_k, no bn_bwd_factors_dy_k), the rest writing dx ($(dx_writers bni.err) kernels), no layer reading through both batch norms (sep_bwd_bn_dy_k)" \
  sh -c "[ $rc -eq 0 ] && [ '$(jget bni.out bn_dx_fused)' = 25 ] && [ '$(count0 bn_bwd_factors_k bni.err)' = 25 ] && ! grep -q 'bn_bwd_factors_dy_k\|sep_bwd_bn_dy_k' bni.err && grep -q 'sep_bwd_dy_k<' bni.err && [ '$(dx_writers bni.err)' -eq \$(( $(dx_writers mixed.err) + 25 )) ]"
CELLAR_BN_DX=both "$EMU" bench --backend cuda $small >bad.out 2>bad.err; rc=$?
check "CELLAR_BN_DX=both is refused, naming what it takes" sh -c "[ $rc -ne 0 ] && grep -q 'is not fused, inner or apart' bad.err"
CELLAR_BN_APPLY=both "$EMU" bench --backend cuda $small >bad.out 2>bad.err; rc=$?
check "CELLAR_BN_APPLY=both is refused, naming what it takes" sh -c "[ $rc -ne 0 ] && grep -q 'is not fused or apart' bad.err"
CELLAR_TWINS=both "$EMU" bench --backend cuda $small >bad.out 2>bad.err; rc=$?
check "CELLAR_TWINS=both is refused, naming what it takes" sh -c "[ $rc -ne 0 ] && grep -q 'is not merge or apart' bad.err"
CELLAR_SEPARABLE=both "$EMU" bench --backend cuda $small >bad.out 2>bad.err; rc=$?
check "CELLAR_SEPARABLE=both is refused, naming what it takes" sh -c "[ $rc -ne 0 ] && grep -q 'expected fused, stride-1, keep-mid, forward or split' bad.err"
CELLAR_POINTWISE=auto CELLAR_DEPTHWISE=auto "$EMU" bench --backend cuda $small --profile >auto.out 2>auto.err; rc=$?
check "CELLAR_POINTWISE=auto CELLAR_DEPTHWISE=auto: bench runs, counting each way's choices: $(jget auto.out engine)" \
  sh -c "[ $rc -eq 0 ] && echo '$(jget auto.out engine)' | grep -Eq '^depthwise auto \(own [0-9]+, simple [0-9]+, cudnn [0-9]+\), pointwise auto \(own [0-9]+, cudnn [0-9]+\), separable split, tf32$'"
check "... with the CPU's parameter count" [ "$(jget auto.out params)" = "$(jget cpu.out params)" ]
chosen=$(jget auto.out engine | sed 's/)[^)]*$//' | tr -c '0-9' ' ' | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s / 3 }')
timed=$(sed -n '/^# convolutions timed when planned/,$p' auto.err | grep -Ec '^conv .*: forward (own|simple|cudnn) \(.*\); data gradient (own|simple|cudnn) \(.*\); filter gradient (own|simple|cudnn) \(.*\)$')
check "... and --profile lists each convolution timed, its three ways chosen and their times ($timed lines, $chosen shapes counted)" \
  sh -c "[ '$timed' -gt 0 ] && [ '$timed' = '$chosen' ]"
"$EMU" bench --backend cuda $small --profile >prof.out 2>prof.err; rc=$?
check "bench --profile on cuda times each class of op" sh -c "[ $rc -eq 0 ] && grep -q 'pointwise' prof.err && grep -q 'batch norm' prof.err"
check "... the separable layers fused as a class of their own (forward: both halves; backward: the fused kernel's)" grep -q '^separable [357]x[357] s[12] relu @' prof.err
check "... as device time between timing marks in a recorded step, none negative" sh -c "grep -q '^# .*timing marks in a recorded step' prof.err && ! grep -E '^[a-z].* -[0-9]' prof.err"
"$EMU" bench --backend cuda --N 1 --F 4 --batch 4 --input 8x8x3 --steps 1 --warmup 1 --children 2 >kids.out 2>kids.err; rc=$?
check "bench --children 2 on cuda: two children, each on a queue of its own, steps recorded" \
  sh -c "[ $rc -eq 0 ] && [ '$(jget kids.out children)' = 2 ] && [ '$(jget kids.out queues)' = 2 ] && [ '$(jget kids.out graph)' = True ]"

fi

if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  echo "# Fashion-MNIST is not installed (Debian: dataset-fashion-mnist): no train or search here"
  exit 0
fi

if [ -z "${CELLAR_TEST_SHORT:-}" ]; then

# --- train: the same figures as the CPU ---
args="--N 1 --F 4 --epochs 1 --train-limit 128 --test-limit 128 --batch 32 --seed 3"
"$EMU" train --backend cuda $args >train.out 2>train.err; rc=$?
"$CELLAR" train --backend cpu $args >train_cpu.out 2>/dev/null
check "train --backend cuda exits 0 and reports on cuda" sh -c "[ $rc -eq 0 ] && [ '$(jget train.out backend)' = cuda ]"
check "... its step lines say the loss is not read yet and the speed not measured, never a loss of 0 ($(grep -m1 '^step ' train.err))" \
  sh -c "grep -q '^step 1/4: loss not read yet, speed not measured yet$' train.err && ! grep -q 'loss 0\.0000' train.err"
check "... with the CPU's test accuracy and loss ($(jget train.out test_acc) $(jget train.out test_loss); CPU $(jget train_cpu.out test_acc) $(jget train_cpu.out test_loss))" \
  $PY -c "import sys; a,b,c,d=map(float,sys.argv[1:]); sys.exit(not (abs(a-c) <= 2/128 and abs(b-d) <= 1e-3*d))" \
  "$(jget train.out test_acc)" "$(jget train.out test_loss)" "$(jget train_cpu.out test_acc)" "$(jget train_cpu.out test_loss)"

fi

# --- a search: several trials at once on one device ---
tiny_experiment
"$EMU" run tiny.lua --backend cuda --db gpu.db >run.out 2>run.err; rc=$?
"$CELLAR" run tiny.lua --backend cpu --db cpu.db >/dev/null 2>&1
check "run --backend cuda: a search of 3 trials finishes (exit 0)" [ $rc -eq 0 ]
check "... the engine puts several trials on the device at once: $(grep 'at once' run.err)" grep -q "^[2-8] trials train at once on cuda" run.err
check "... the journal holds 3 done trials" [ "$(sql gpu.db "select count(*) from trials where state='done'")" = 3 ]
check "... with the CPU's genotypes and rewards" $PY -c "
import sqlite3, sys
q = 'select id, genotype, reward from trials order by id'
g = list(sqlite3.connect('gpu.db').execute(q)); c = list(sqlite3.connect('cpu.db').execute(q))
sys.exit(not (len(g) == len(c) == 3 and all(a[1] == b[1] and abs(a[2] - b[2]) <= 1 / 64 for a, b in zip(g, c))))"
