/**
 * The settings rows under their documented import path (scripts and docs generators read
 * `SETTINGS` from here); the rows themselves, parsers included, live in settings.ts.
 */
export { SETTINGS, type Setting, type Setting as SettingDoc, type SettingName } from './settings.js';
