// SPDX-License-Identifier: Apache-2.0
// Every sensor besides the process sensor, in load order. The agent loads each
// one's object (sharing the process object's maps) and attaches only the
// programs that the loaded policies' kinds need.
import { EnforceSensor } from '../enforce/sensor.js';
import { FileSensor } from './file/sensor.js';
import { KernelSensor } from './kernel/sensor.js';
import { NetworkSensor } from './network/sensor.js';
import { PrivilegeSensor } from './privilege/sensor.js';
import type { Sensor } from './sensor.js';

export const SENSORS: ReadonlyArray<() => Sensor> = [
  // one entry per sensor: () => new FileSensor(), ...
  () => new FileSensor(),
  () => new NetworkSensor(),
  () => new PrivilegeSensor(),
  () => new KernelSensor(),
  () => new EnforceSensor(), // deny/kill backends and self-protection (src/enforce/)
];
