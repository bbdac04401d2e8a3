#!/usr/bin/env python3
"""Pairs the alternated mono/chunked rows of scripts/bench-chunked.sh outputs (one or more
files) and prints, per kind (cold, get, range, put), the median and quartiles of the chunked/mono
ratios of throughput and CPU per GiB, and of the multipart upload speed against the monolithic PUT
of the same round. Pairs rather than medians of each side: run-to-run swings on a shared VM are
larger than the differences measured, and both sides of a pair ran back to back.

    scripts/bench-chunked-pairs.py bench/results/2026-12-04-chunked-cold1-*.txt
"""
import sys, statistics as st
pool={'cold':[],'get':[],'range':[],'put':[]}; mpu=[]
for f in sys.argv[1:]:
    rows=[l.rstrip('\n').split('\t') for l in open(f) if l.split('\t')[0] in ('put','cold','get','range')]
    pend={}; lastmono=None
    for r in rows:
        k,b=r[0],r[1]
        if b=='mpu':
            mpu.append(float(lastmono)/float(r[2])); continue
        if k=='put' and b=='mono': lastmono=r[2]
        if k in pend and pend[k][1]!=b:
            a=pend.pop(k); m,c=(a,r) if a[1]=='mono' else (r,a)
            if k=='put': pool[k].append((float(m[2])/float(c[2]),None))
            else: pool[k].append((float(c[2])/float(m[2]), float(c[3])/float(m[3])))
        else: pend[k]=r
q=lambda v: st.quantiles(v,n=4)
for k,v in pool.items():
    t=[x[0] for x in v]
    s=f"{k}: n={len(v)} throughput chunked/mono median {st.median(t):.3f} (quartiles {q(t)[0]:.2f}-{q(t)[2]:.2f})"
    if k!='put':
        c=[x[1] for x in v]; s+=f"; CPU/GiB median {st.median(c):.3f} (quartiles {q(c)[0]:.2f}-{q(c)[2]:.2f})"
    print(s)
print(f"multipart speed vs mono PUT of the same round: n={len(mpu)} median {st.median(mpu):.3f} (quartiles {q(mpu)[0]:.2f}-{q(mpu)[2]:.2f})")
