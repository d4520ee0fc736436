"""Run under mpiexec -n 2 with argv[1] = a shared folder: fit(distributed=True) writes every
file on rank 0 only, every rank ends with the same weights and metrics, and each rank trained on
its own half of the data. Prints "rank R: saves=S batches=B ..." lines and a JSON summary."""

import json
import sys
from pathlib import Path

import numpy as np

import tinygrad_cnn as tc
import tinygrad_cnn.distributed as dist
from tinygrad_cnn import serialization

folder = Path(sys.argv[1])
dist.init_process_group("mpi")
rank = dist.get_rank()
saves = []
real_save = serialization.save
serialization.save = lambda obj, path, *a, **k: (saves.append(str(path)),
                                                 real_save(obj, path, *a, **k))[1]
rng = np.random.default_rng(0)
x = rng.standard_normal((200, 4)).astype(np.float32)
y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
seen = []  # one list of sample indices per epoch


class EpochMarker(tc.train.Callback):
    def on_epoch_begin(self, trainer, epoch):
        seen.append([])


class Recorder(tc.data.Dataset):
    def __len__(self):
        return 160

    def __getitem__(self, i):
        seen[-1].append(int(i))
        return x[i], y[i]


tc.manual_seed(rank)  # different starting weights: DDP broadcasts rank 0's
model = tc.nn.Sequential(tc.nn.Linear(4, 8), tc.nn.ReLU(), tc.nn.Linear(8, 2))
opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
callbacks = [tc.train.ModelCheckpoint(str(folder / "ep_{epoch}.ckpt")),
             tc.train.CSVLogger(folder / "log.csv"), EpochMarker()]
history = tc.train.fit(model, opt, tc.nn.CrossEntropyLoss(), Recorder(), epochs=3,
                       batch_size=16, val_data=(x[160:], y[160:]), callbacks=callbacks,
                       verbose=0, seed=1, distributed=True)
weights = np.concatenate([p.numpy().ravel() for p in model.parameters()])
summary = {"rank": rank, "saves": len(saves), "seen": seen,
           "history": history.to_dict(), "weights": weights.tolist()}
(folder / f"rank{rank}.json").write_text(json.dumps(summary))
dist.destroy_process_group()
