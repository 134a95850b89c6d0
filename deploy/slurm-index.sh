#!/bin/bash
# echoclip index as a Slurm job array: task I indexes shard I/N (`--shard auto/N` reads
# SLURM_ARRAY_TASK_ID minus SLURM_ARRAY_TASK_MIN). Requeued or rerun tasks continue with --resume.
# Submit:  sbatch --array=0-7 deploy/slurm-index.sh   (N = 8 below must match the array size)
# Then:    echoclip index merge /data/echoclip-index/merged /data/echoclip-index/parts/shard-*
#SBATCH --job-name=echoclip-index
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --mem=16G
#SBATCH --time=24:00:00
#SBATCH --requeue
#SBATCH --output=logs/echoclip-index-%A_%a.log
set -euo pipefail
N=8
OUT=/data/echoclip-index/parts/shard-${SLURM_ARRAY_TASK_ID}
# The salt must be the same for every task (patient ids are stored as sha256(salt, id)).
export ECHOCLIP_PATIENT_SALT="$(cat "$HOME/.echoclip-patient-salt")"
exec echoclip index --input /data/echo-archive/manifest.csv --out "$OUT" \
  --shard "auto/$N" --resume --weights /data/weights/echo-clip --frames 0:40:2 --dtype f16
