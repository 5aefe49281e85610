#!/usr/bin/env node
import { main } from '../dist/src/cli/garden.js';

process.exit(await main(process.argv.slice(2)));
