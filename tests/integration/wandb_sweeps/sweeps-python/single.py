#!/usr/bin/env python
from train_lib import train

if __name__ == '__main__':
    train()
